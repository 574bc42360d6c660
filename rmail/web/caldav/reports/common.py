"""What every object-returning report shares: the requested properties (with calendar-data
or address-data and CALDAV:expand) and the response for one object."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from rmail.ical.expand import Selection, expand, select
from rmail.web.caldav import xml
from rmail.web.caldav.context import BOOK, CALENDAR, CARD, EVENT, DavContext, Target
from rmail.web.caldav.filters import TimeRange, parse_time_range
from rmail.web.caldav.props import Resource, propstats_for
from rmail.web.caldav.xml import c, cr, d


@dataclass(frozen=True)
class RequestedProps:
    names: list[str] | None          # None: allprop
    expand: TimeRange | None = None
    selection: Selection | None = None   # calendar-data comp/prop (partial retrieval)


def parse_selection(node: ET.Element) -> Selection:
    """`<C:comp name="VCALENDAR"><C:prop name="VERSION"/><C:comp name="VEVENT">...`"""
    name = (node.get("name") or "").upper()
    props: frozenset[str] | None = None
    if node.find(c("allprop")) is None:
        props = frozenset((p.get("name") or "").upper() for p in node.findall(c("prop")))
    comps: dict[str, Selection] | None = None
    if node.find(c("allcomp")) is None:
        comps = {}
        for sub in node.findall(c("comp")):
            inner = parse_selection(sub)
            comps[inner.name] = inner
    return Selection(name, props, comps)


DATA_TAGS = (c("calendar-data"), cr("address-data"))


def parse_requested(root: ET.Element) -> RequestedProps:
    """The `<D:prop>` of a REPORT body (allprop when absent)."""
    prop = root.find(d("prop"))
    if prop is None:
        if root.find(d("allprop")) is not None or root.find(d("propname")) is None:
            return RequestedProps(None)
        return RequestedProps(None)
    names: list[str] = []
    expand_range = None
    selection = None
    for item in prop:
        if not isinstance(item.tag, str):
            continue
        names.append(item.tag)
        if item.tag == c("calendar-data"):
            node = item.find(c("expand"))
            if node is not None:
                expand_range = parse_time_range(node)
            comp = item.find(c("comp"))
            if comp is not None:
                selection = parse_selection(comp)
    return RequestedProps(names, expand_range, selection)


def member_target(coll_target: Target, name: str) -> Target:
    kind = EVENT if coll_target.kind in (CALENDAR, EVENT) else CARD
    return Target(kind, coll_target.collection, name)


def object_response(ctx: DavContext, target: Target, entry: dict[str, Any], data: bytes,
                    req: RequestedProps) -> ET.Element:
    res = Resource(target, ctx.href_for(target), None, None, entry)

    def extra(name: str) -> ET.Element | None:
        if name == c("calendar-data") and target.kind == EVENT:
            body = data
            if req.expand is not None:
                body = expand(data, req.expand.start, req.expand.end)
            if req.selection is not None:
                body = select(body, req.selection)
            return xml.elem(name, body.decode("utf-8", "replace"))
        if name == cr("address-data") and target.kind == CARD:
            return xml.elem(name, data.decode("utf-8", "replace"))
        return None

    return xml.response(res.href, propstats_for(ctx, res, req.names, extra=extra))


def not_found(href: str) -> ET.Element:
    return xml.response(href, code=404)


def collection_target(ctx: DavContext) -> Target:
    t = ctx.target
    if t.kind not in (CALENDAR, BOOK):
        from rmail.web.caldav.errors import DavError
        raise DavError(403, "this report runs on a calendar or address book collection",
                       xml.elem(d("supported-report")))
    return t
