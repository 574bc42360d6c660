"""OPTIONS: the DAV compliance classes the reference manual names and the allowed methods."""

from __future__ import annotations

from aiohttp import web

from rmail.web.caldav.context import DavContext

DAV_HEADER = "1, 2, 3, calendar-access, calendar-schedule, addressbook, extended-mkcol"
ALLOW = ("OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, REPORT, MKCALENDAR, MKCOL, "
         "MOVE, COPY")


def headers() -> dict[str, str]:
    return {"DAV": DAV_HEADER, "Allow": ALLOW, "MS-Author-Via": "DAV"}


async def handle(ctx: DavContext | None) -> web.StreamResponse:
    return web.Response(status=200, headers=headers())
