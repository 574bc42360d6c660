"""UNLOCK (RFC 4918 §9.11): remove the lock named by `Lock-Token` when it covers the URL."""

from __future__ import annotations

from aiohttp import web

from rmail.store.errors import NotFound
from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError

__all__ = ["handle"]


async def handle(ctx: Ctx) -> web.StreamResponse:
    if ctx.share is not None:
        raise DriveError(403, "UNLOCK is not allowed on shared resources")
    token = ctx.request.headers.get("Lock-Token", "").strip()
    if not (token.startswith("<") and token.endswith(">")):
        raise DriveError(400, "UNLOCK needs a Lock-Token header")
    token = token[1:-1]
    try:
        lock = await ctx.run(ctx.drive.locks.get, token)
    except NotFound:
        raise DriveError(409, "no such lock",
                         condition="lock-token-matches-request-uri") from None
    if not lock.covers(ctx.path):
        raise DriveError(409, "the lock does not cover this resource",
                         condition="lock-token-matches-request-uri")
    await ctx.run(ctx.drive.locks.remove, token)
    return web.Response(status=204)
