"""MKCOL (RFC 4918 §9.3) and extended MKCOL (RFC 5689): address books under
`/caldav/{user}/contacts/{name}/` (CardDAV, RFC 6352 §6.3.1), and calendars under the calendar
home for clients that create calendars this way (DAVx5)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from aiohttp import web

from rmail.web.caldav import xml
from rmail.web.caldav.context import BOOK, CALENDAR, DavContext
from rmail.web.caldav.errors import DavError
from rmail.web.caldav.mkcalendar import create_calendar, parse_create_props
from rmail.web.caldav.xml import d


def build_mkcol_response(href: str, names: list[str]) -> ET.Element:
    """RFC 5689 §5.2: the properties that were set."""
    return xml.elem(d("mkcol-response"), None,
                    xml.propstat([ET.Element(n) for n in names], 200))


async def handle(ctx: DavContext) -> web.StreamResponse:
    kind = ctx.target.kind
    if kind not in (BOOK, CALENDAR):
        raise DavError(403, "collections can only be created as address books under "
                       "/caldav/{user}/contacts/ or calendars under /caldav/{user}/calendars/")
    body = await ctx.body(xml.MAX_XML_BYTES)
    root = xml.parse(body) if body.strip() else None
    if root is not None and root.tag != d("mkcol"):
        raise DavError(415, "expected an extended MKCOL (DAV:mkcol) body")
    fields, dead = parse_create_props(root)
    types = fields.get("resourcetype")
    if kind == CALENDAR:
        if isinstance(types, list) and xml.c("calendar") not in types:
            raise DavError(403, "only calendars can be created in the calendar home",
                           xml.elem(d("valid-resourcetype")))
        await create_calendar(ctx, fields, dead)
    else:
        if isinstance(types, list) and xml.cr("addressbook") not in types:
            raise DavError(403, "only address books can be created in the contacts home",
                           xml.elem(d("valid-resourcetype")))
        assert ctx.target.collection is not None
        props = {ch.name: ET.tostring(ch.value, encoding="unicode") for ch in dead
                 if ch.value is not None}
        await ctx.run(ctx.contacts.create_addressbook, ctx.target.collection,
                  displayname=str(fields["displayname"]) if "displayname" in fields else None,
                  description=str(fields.get("description") or ""), props=props)
    return web.Response(status=201, headers={"Location": ctx.href_for(ctx.target),
                                             "Cache-Control": "no-cache"})
