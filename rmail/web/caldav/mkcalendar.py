"""MKCALENDAR (RFC 4791 §5.3.1): create a calendar, optionally with display name, colour,
description, supported components and time zone from the body."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from aiohttp import web

from rmail.store.calendars import COMPONENTS
from rmail.web.caldav import xml
from rmail.web.caldav.context import CALENDAR, DavContext
from rmail.web.caldav.errors import DavError
from rmail.web.caldav.proppatch import PropChange
from rmail.web.caldav.xml import c, d

_SETTABLE = {d("displayname"): "displayname", c("calendar-description"): "description",
             xml.ical("calendar-color"): "color", xml.ical("calendar-order"): "order",
             c("calendar-timezone"): "timezone"}


def parse_create_props(root: ET.Element | None) -> tuple[dict[str, object], list[PropChange]]:
    """Pure: from a `set/prop` body, the metadata fields and the remaining (dead) properties.
    Shared by MKCALENDAR and extended MKCOL (RFC 5689)."""
    fields: dict[str, object] = {}
    dead: list[PropChange] = []
    if root is None:
        return fields, dead
    for prop in root.iter(d("prop")):
        for item in prop:
            if item.tag in _SETTABLE or item.tag == xml.cr("addressbook-description"):
                key = _SETTABLE.get(item.tag, "description")
                fields[key] = xml.text_of(item)
            elif item.tag == c("supported-calendar-component-set"):
                comps = [str(x.get("name", "")).upper() for x in item.findall(c("comp"))]
                bad = [x for x in comps if x not in COMPONENTS]
                if bad or not comps:
                    raise DavError(403, f"unsupported component {', '.join(bad) or '(none)'}",
                                   xml.elem(c("supported-calendar-component")))
                fields["components"] = comps
            elif item.tag == d("resourcetype"):
                fields["resourcetype"] = [x.tag for x in item]
            else:
                dead.append(PropChange(item.tag, item))
    return fields, dead


async def handle(ctx: DavContext) -> web.StreamResponse:
    if ctx.target.kind != CALENDAR:
        raise DavError(403, "MKCALENDAR is only allowed at /caldav/{user}/calendars/{name}/",
                       xml.elem(c("calendar-collection-location-ok")))
    body = await ctx.body(xml.MAX_XML_BYTES)
    root = xml.parse(body) if body.strip() else None
    if root is not None and root.tag != c("mkcalendar"):
        raise DavError(400, "expected a CALDAV:mkcalendar body")
    fields, dead = parse_create_props(root)
    await create_calendar(ctx, fields, dead)
    return web.Response(status=201, headers={"Location": ctx.href_for(ctx.target),
                                             "Cache-Control": "no-cache"})


async def create_calendar(ctx: DavContext, fields: dict[str, object],
                          dead: list[PropChange]) -> None:
    assert ctx.target.collection is not None
    name = ctx.target.collection
    props = {ch.name: ET.tostring(ch.value, encoding="unicode") for ch in dead
             if ch.value is not None}
    comps = fields.get("components")
    coll = await ctx.run(ctx.calendars.create_calendar, name,
                     displayname=str(fields["displayname"]) if "displayname" in fields else None,
                     color=str(fields.get("color") or ""),
                     description=str(fields.get("description") or ""),
                     components=list(comps) if isinstance(comps, list) else None,
                     props=props)
    extra = {k: fields[k] for k in ("order", "timezone") if k in fields}
    if extra:
        await ctx.run(coll.update_meta, lambda meta: meta.update(extra))
