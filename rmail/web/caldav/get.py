"""GET and HEAD: one calendar object or vCard, byte for byte as stored, with its ETag; on a
calendar collection, the whole calendar as one iCalendar stream (an export)."""

from __future__ import annotations

from email.utils import formatdate

from aiohttp import web

from rmail.ical.export import merge_calendars
from rmail.web.caldav.context import CALENDAR, CARD, EVENT, DavContext
from rmail.web.caldav.errors import DavError

CALENDAR_TYPE = "text/calendar"
VCARD_TYPE = "text/vcard"


async def handle(ctx: DavContext) -> web.StreamResponse:
    kind = ctx.target.kind
    if kind in (EVENT, CARD):
        coll = ctx.collection()
        name = ctx.target.name
        assert name is not None

        def read() -> tuple[dict[str, object], bytes]:
            entry = coll.entry(name)
            return entry, coll.read(name)

        entry, data = await ctx.run(read)
        etag = str(entry["etag"])
        if ctx.request.headers.get("If-None-Match", "").strip() in (etag, "*"):
            return web.Response(status=304, headers={"ETag": etag})
        ctype = CALENDAR_TYPE if kind == EVENT else VCARD_TYPE
        headers = {"ETag": etag,
                   "Last-Modified": formatdate(int(str(entry.get("mtime", 0))), usegmt=True)}
        # aiohttp sends no body for HEAD but keeps the Content-Length of the GET
        return web.Response(body=data, headers=headers, content_type=ctype, charset="utf-8")
    if kind == CALENDAR:
        coll = ctx.collection()

        def export() -> bytes:
            names = list(coll.index().objects)
            return merge_calendars(data for _, _, data in coll.read_many(names))

        data = await ctx.run(export)
        return web.Response(body=data, content_type=CALENDAR_TYPE,
                            charset="utf-8")
    raise DavError(405, "GET is not supported on this collection", headers={"Allow": ALLOW})


ALLOW = "OPTIONS, PROPFIND, REPORT, MKCALENDAR, MKCOL, PROPPATCH, DELETE, MOVE"
