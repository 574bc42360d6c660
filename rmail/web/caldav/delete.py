"""DELETE: one calendar object or vCard (If-Match honoured), or a whole calendar or address
book (RFC 4918 §9.6)."""

from __future__ import annotations

from aiohttp import web

from rmail.web.caldav import scheduling
from rmail.web.caldav.context import BOOK, CALENDAR, CARD, EVENT, DavContext
from rmail.web.caldav.errors import DavError


async def handle(ctx: DavContext) -> web.StreamResponse:
    kind = ctx.target.kind
    if_match = ctx.request.headers.get("If-Match")
    if kind in (EVENT, CARD):
        coll = ctx.collection()
        name = ctx.target.name
        assert name is not None

        def delete() -> bytes | None:
            old = coll.read(name) if kind == EVENT else None
            coll.delete(name, if_match=if_match)
            return old

        old = await ctx.run(delete)
        if old is not None:
            scheduling.after_delete(ctx, old)
        return web.Response(status=204)
    if kind in (CALENDAR, BOOK):
        home = ctx.calendars if kind == CALENDAR else ctx.contacts
        assert ctx.target.collection is not None
        await ctx.run(home.delete, ctx.target.collection, if_match=if_match)
        return web.Response(status=204)
    raise DavError(403, "this collection cannot be deleted")
