"""DELETE: a file, or a directory with everything below it. The drive root, and the root of a
share link, cannot be deleted."""

from __future__ import annotations

import asyncio

from aiohttp import web

from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError
from rmail.web.drive.locking import check_if, require_tokens
from rmail.web.drive.put import parse_if_match

__all__ = ["handle"]


async def handle(ctx: Ctx) -> web.StreamResponse:
    if ctx.share is not None:
        ctx.require("D", "deleting")
        if ctx.path == ctx.root:
            raise DriveError(403, "the root of a share cannot be deleted through its link")
    if ctx.path.is_root:
        raise DriveError(403, "the drive root cannot be deleted")
    tokens = await check_if(ctx)
    await require_tokens(ctx, tokens, ctx.path, recursive=True)
    await asyncio.to_thread(ctx.drive.delete, ctx.path,
                            if_match=parse_if_match(ctx.request.headers.get("If-Match")))
    await asyncio.to_thread(ctx.locks.remove_within, ctx.path)
    return web.Response(status=204)
