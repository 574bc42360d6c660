"""MOVE (RFC 4918 §9.9) of a calendar object or vCard to another name or collection of the same
user (`Destination`, `Overwrite`, `If-Match`). Collections are not moved."""

from __future__ import annotations

from aiohttp import web

from rmail.web.caldav.context import CARD, EVENT, DavContext, run
from rmail.web.caldav.errors import DavError


async def handle(ctx: DavContext) -> web.StreamResponse:
    kind = ctx.target.kind
    if kind not in (EVENT, CARD):
        raise DavError(403, "only calendar objects and vCards can be moved")
    destination = ctx.request.headers.get("Destination")
    if not destination:
        raise DavError(400, "MOVE needs a Destination header")
    target = ctx.resolve_href(destination)
    if target.kind != kind:
        raise DavError(409 if target.kind in ("calendar", "book") else 403,
                       "the destination must be a resource in a collection of the same kind")
    overwrite = ctx.request.headers.get("Overwrite", "T").strip().upper() != "F"
    src, dst = ctx.collection(), ctx.collection(target)
    assert ctx.target.name is not None and target.name is not None

    def move() -> tuple[str, bool]:
        return src.move(ctx.target.name or "", dst, target.name or "", overwrite=overwrite,
                        if_match=ctx.request.headers.get("If-Match"))

    etag, created = await run(move)
    return web.Response(status=201 if created else 204, headers={"ETag": etag})
