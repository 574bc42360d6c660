"""MKCOL: WebDAV mkdir. The parent must exist (409), an existing name is 405, a body is 415
(RFC 4918 §9.3)."""

from __future__ import annotations

from aiohttp import web

from rmail.store.errors import AlreadyExists
from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError
from rmail.web.drive.locking import check_if

__all__ = ["handle"]


async def handle(ctx: Ctx) -> web.StreamResponse:
    req = ctx.request
    if req.content_length or req.headers.get("Transfer-Encoding", "").lower() == "chunked":
        await req.content.read(1)  # an MKCOL body is never understood here
        raise DriveError(415, "MKCOL with a body is not supported")
    ctx.require("C", "creating directories")
    tokens = await check_if(ctx)
    try:
        entry, _ = await ctx.run(ctx.drive.mkdir, ctx.path, rules=ctx.rules(tokens))
    except AlreadyExists:
        raise DriveError(405, f"{ctx.path or '/'} already exists",
                         headers={"Allow": "GET, HEAD, PUT, DELETE, MOVE, COPY, PROPFIND, "
                                           "PROPPATCH, LOCK, UNLOCK, OPTIONS"}) from None
    return web.json_response(_public(ctx, entry.public()), status=201,
                             headers={"Location": ctx.href(entry.path, True)})


def _public(ctx: Ctx, body: dict) -> dict:  # type: ignore[type-arg]
    if ctx.share is not None:
        body["path"] = "/".join(body["path"].split("/")[ctx.root.depth:])
    return body
