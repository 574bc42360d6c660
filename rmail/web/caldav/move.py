"""MOVE (RFC 4918 §9.9) of a calendar object or vCard to another name or collection of the same
user (`Destination`, `Overwrite`, `If-Match`). Collections are not moved. `transfer` is shared
with COPY (`rmail.web.caldav.copy`): both refuse a destination collection that already holds the
object's UID in another resource with the `no-uid-conflict` precondition (RFC 4791 §5.3.2.1,
RFC 6352 §6.3.2.1), naming that resource."""

from __future__ import annotations

from aiohttp import web

from rmail.store.davstore import UidConflict
from rmail.web.caldav import xml
from rmail.web.caldav.context import CARD, EVENT, DavContext
from rmail.web.caldav.errors import DavError


async def transfer(ctx: DavContext, *, keep: bool) -> web.StreamResponse:
    verb = "copied" if keep else "moved"
    kind = ctx.target.kind
    if kind not in (EVENT, CARD):
        raise DavError(403, f"only calendar objects and vCards can be {verb}")
    destination = ctx.request.headers.get("Destination")
    if not destination:
        raise DavError(400, f"{'COPY' if keep else 'MOVE'} needs a Destination header")
    target = ctx.resolve_href(destination)
    if target.kind != kind:
        raise DavError(409 if target.kind in ("calendar", "book") else 403,
                       "the destination must be a resource in a collection of the same kind")
    overwrite = ctx.request.headers.get("Overwrite", "T").strip().upper() != "F"
    src, dst = ctx.collection(), ctx.collection(target)
    name, new_name = ctx.target.name or "", target.name or ""
    if_match = ctx.request.headers.get("If-Match")

    def go() -> tuple[str, bool]:
        if keep:
            return src.copy_to(name, dst, new_name, overwrite=overwrite, if_match=if_match)
        return src.move(name, dst, new_name, overwrite=overwrite, if_match=if_match)

    try:
        etag, created = await ctx.run(go)
    except UidConflict as exc:
        dst_coll = target.collection or ""
        href = ctx.event_href(dst_coll, exc.existing) if kind == EVENT else \
            ctx.card_href(dst_coll, exc.existing)
        tag = xml.c("no-uid-conflict") if kind == EVENT else xml.cr("no-uid-conflict")
        raise DavError(403, str(exc), xml.elem(tag, None, xml.href(href))) from None
    return web.Response(status=201 if created else 204, headers={"ETag": etag})


async def handle(ctx: DavContext) -> web.StreamResponse:
    return await transfer(ctx, keep=False)
