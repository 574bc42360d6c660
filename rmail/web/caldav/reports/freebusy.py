"""free-busy-query (RFC 4791 §7.10): a VFREEBUSY for a time range over one calendar."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rmail.ical.freebusy import busy_periods, vfreebusy
from rmail.ical.parse import InvalidCalendar, parse_object
from rmail.web.caldav.context import DavContext, Target
from rmail.web.caldav.errors import DavError
from rmail.web.caldav.filters import TimeRange, parse_time_range
from rmail.web.caldav.xml import c, elem


def parse_range(root: ET.Element) -> TimeRange:
    tr = parse_time_range(root.find(c("time-range")))
    if tr is None or tr.start is None or tr.end is None:
        raise DavError(400, "free-busy-query needs a time-range with start and end",
                       elem(c("valid-filter")))
    return tr


def build(ctx: DavContext, target: Target, tr: TimeRange) -> bytes:
    """Blocking: the text/calendar body."""
    assert target.collection is not None and tr.start is not None and tr.end is not None
    coll = ctx.calendars.get(target.collection)
    names = [n for n, _ in ctx.calendars.candidates(target.collection, tr.start, tr.end,
                                                     "VEVENT")]
    periods = []
    for _, _, data in coll.read_many(names):
        try:
            obj = parse_object(data)
        except InvalidCalendar:
            continue
        periods.extend(busy_periods(obj.components, tr.start, tr.end))
    return vfreebusy(periods, tr.start, tr.end, organizer=None)
