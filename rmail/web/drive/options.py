"""OPTIONS: what the drive speaks (WebDAV class 1 and 2). Answered without authentication, so a
WebDAV client can discover the server before it prompts for a password."""

from __future__ import annotations

from aiohttp import web

__all__ = ["ALLOW", "handle"]

ALLOW = ("OPTIONS, GET, HEAD, PUT, POST, DELETE, MOVE, COPY, MKCOL, PROPFIND, PROPPATCH, "
         "LOCK, UNLOCK")


async def handle(request: web.Request) -> web.StreamResponse:
    return web.Response(status=200, headers={"DAV": "1, 2", "Allow": ALLOW,
                                             "MS-Author-Via": "DAV",
                                             "Accept-Ranges": "bytes"})
