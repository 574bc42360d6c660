"""PUT of a calendar object (RFC 4791 §5.3.2) or a vCard (RFC 6352 §6.3.2).

Preconditions: `If-None-Match: *` (create only) and `If-Match` (lost-update protection) → 412;
the body must be iCalendar/vCard (415 otherwise) and valid (400 with the reason and the
`valid-calendar-data` precondition); its UID must be unique in the collection (403
`no-uid-conflict` naming the resource that has it) and cannot change on an existing resource.
The stored bytes are exactly the client's, so the ETag (SHA-256, 32 hex) is returned.
"""

from __future__ import annotations

from aiohttp import web

from rmail.ical.parse import InvalidCalendar, parse_object
from rmail.store.calendars import MAX_OBJECT_BYTES
from rmail.store.contacts import MAX_CARD_BYTES
from rmail.store.errors import NotFound
from rmail.web.caldav import scheduling, xml
from rmail.web.caldav.context import CARD, EVENT, DavContext
from rmail.web.caldav.errors import DavError

CALENDAR_TYPES = {"text/calendar", "application/ics", "text/x-vcalendar",
                  "application/octet-stream", "text/plain"}
VCARD_TYPES = {"text/vcard", "text/x-vcard", "text/directory", "application/octet-stream",
               "text/plain"}


def check_media_type(content_type: str, calendar: bool) -> None:
    """Pure: 415 unless the declared type is one a calendar/vCard client sends."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if not ctype:
        return
    allowed = CALENDAR_TYPES if calendar else VCARD_TYPES
    if ctype not in allowed:
        what = "text/calendar" if calendar else "text/vcard"
        cond = xml.elem(xml.c("supported-calendar-data")) if calendar else \
            xml.elem(xml.cr("supported-address-data"))
        raise DavError(415, f"unsupported media type {ctype!r}: send {what}", cond)


async def handle(ctx: DavContext) -> web.StreamResponse:
    kind = ctx.target.kind
    if kind not in (EVENT, CARD):
        raise DavError(405, "PUT creates calendar objects and vCards inside a collection")
    calendar = kind == EVENT
    check_media_type(ctx.request.headers.get("Content-Type", ""), calendar)
    data = await ctx.body(MAX_OBJECT_BYTES if calendar else MAX_CARD_BYTES)
    if not data.strip():
        raise DavError(400, "empty body")
    if_match = ctx.request.headers.get("If-Match")
    if_none_match = ctx.request.headers.get("If-None-Match")
    coll_name, name = ctx.target.collection, ctx.target.name
    assert coll_name is not None and name is not None

    if calendar:
        obj = await ctx.run(parse_object, data)

        def put_event() -> tuple[str, bool, bytes | None]:
            try:
                coll = ctx.calendars.get(coll_name)
            except NotFound:
                raise DavError(409, f"calendar {coll_name!r} does not exist") from None
            old = None
            if name in coll.index().objects:
                try:
                    old = coll.read(name)
                except NotFound:
                    old = None
            etag, created, _ = ctx.calendars.put_object(coll_name, name, data,
                                                        if_match=if_match,
                                                        if_none_match=if_none_match, obj=obj)
            return etag, created, old

        try:
            etag, created, old = await ctx.run(put_event)
        except InvalidCalendar:
            raise
        scheduling.after_put(ctx, old, obj)
    else:
        def put_card() -> tuple[str, bool]:
            try:
                ctx.contacts.get(coll_name)
            except NotFound:
                raise DavError(409, f"address book {coll_name!r} does not exist") from None
            etag, created, _ = ctx.contacts.put_card(coll_name, name, data, if_match=if_match,
                                                     if_none_match=if_none_match)
            return etag, created

        etag, created = await ctx.run(put_card)
    return web.Response(status=201 if created else 204, headers={"ETag": etag})
