"""COPY (WebDAV): a file, or a directory with `Depth: infinity` (default) or just the
collection with `Depth: 0`; dead properties are copied, locks are not. Owner only."""

from __future__ import annotations

from aiohttp import web

from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError
from rmail.web.drive.locking import check_if
from rmail.web.drive.move import destination, overwrite_flag

__all__ = ["handle"]


async def handle(ctx: Ctx) -> web.StreamResponse:
    if ctx.share is not None:
        raise DriveError(403, "COPY is not allowed on shared resources")
    depth = ctx.request.headers.get("Depth", "infinity").strip().lower()
    if depth not in ("0", "infinity"):
        raise DriveError(400, "COPY takes Depth 0 or infinity")
    if ctx.path.is_root:
        raise DriveError(403, "the drive root cannot be copied")
    dst = destination(ctx)
    overwrite = overwrite_flag(ctx)
    tokens = await check_if(ctx)

    def copy() -> bool:
        return ctx.drive.copy(ctx.path, dst, rules=ctx.rules(tokens, quota=ctx.quota()),
                              overwrite=overwrite, recursive=depth == "infinity")

    created = await ctx.run(copy)
    if created:
        return web.Response(status=201, headers={"Location": ctx.href(dst, False)})
    return web.Response(status=204)
