"""DELETE: a file, or a directory with everything below it. The drive root, and the root of a
share link, cannot be deleted; the store checks D, lock tokens and If-Match under its lock and
drops the WebDAV locks of what it deleted."""

from __future__ import annotations

from aiohttp import web

from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError
from rmail.web.drive.locking import check_if

__all__ = ["handle"]


async def handle(ctx: Ctx) -> web.StreamResponse:
    if ctx.share is not None:
        ctx.require("D", "deleting")
        if ctx.path == ctx.root:
            raise DriveError(403, "the root of a share cannot be deleted through its link")
    if ctx.path.is_root:
        raise DriveError(403, "the drive root cannot be deleted")
    tokens = await check_if(ctx)
    await ctx.run(ctx.drive.delete, ctx.path, rules=ctx.rules(tokens))
    return web.Response(status=204)
