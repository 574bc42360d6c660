"""calendar-query (RFC 4791 §7.8): filter by component, properties, parameters, text and time
range. The index's precomputed bounds choose the candidates; only those are parsed and their
recurrences expanded."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rmail.ical.parse import InvalidCalendar, parse_object
from rmail.web.caldav import xml
from rmail.web.caldav.context import DavContext, Target
from rmail.web.caldav.filters import (
    CompFilter,
    calendar_matches,
    outer_time_range,
    parse_calendar_filter,
)
from rmail.web.caldav.reports.common import RequestedProps, member_target, object_response
from rmail.web.caldav.xml import c


def parse_filter(root: ET.Element) -> CompFilter:
    return parse_calendar_filter(root.find(c("filter")))


def build(ctx: DavContext, target: Target, flt: CompFilter, req: RequestedProps) -> ET.Element:
    """Blocking: reads the index and the candidate objects."""
    assert target.collection is not None
    comp, window = outer_time_range(flt)
    lo = window.start if window is not None else None
    hi = window.end if window is not None else None
    coll = ctx.calendars.get(target.collection)
    names = [name for name, _ in ctx.calendars.candidates(target.collection, lo, hi, comp)]
    responses = []
    for name, entry, data in coll.read_many(names):
        try:
            obj = parse_object(data)
        except InvalidCalendar:
            continue
        if not calendar_matches(obj.components, flt):
            continue
        responses.append(object_response(ctx, member_target(target, name), entry, data, req))
    return xml.multistatus(responses)
