"""calendar-query (RFC 4791 §7.8): filter by component, properties, parameters, text and time
range. The index's precomputed bounds choose the candidates; a plain VEVENT time-range query
decides a single, non-floating event from its exact bounds alone; only the rest are parsed and
their recurrences expanded (parsed objects and rule sets are cached per ETag)."""

from __future__ import annotations

import datetime as dt
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict
from typing import Any

from rmail.ical.parse import CalendarObject, InvalidCalendar, parse_object
from rmail.ical.recur import UTC, Expansion, overlaps
from rmail.web.caldav import xml
from rmail.web.caldav.context import DavContext, Target
from rmail.web.caldav.filters import (
    CompFilter,
    calendar_matches,
    is_simple_range,
    outer_time_range,
    parse_calendar_filter,
)
from rmail.web.caldav.reports.common import RequestedProps, member_target, object_response
from rmail.web.caldav.xml import c

CACHE_SIZE = 4096


class _ParsedCache:
    """Parsed objects and their expansions by ETag (content hash: never stale)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, tuple[CalendarObject, dict[str, Expansion]]] = \
            OrderedDict()
        self.lock = threading.Lock()

    def get(self, etag: str, data: bytes) -> tuple[CalendarObject, dict[str, Expansion]]:
        with self.lock:
            hit = self.items.get(etag)
            if hit is not None:
                self.items.move_to_end(etag)
                return hit
        value: tuple[CalendarObject, dict[str, Expansion]] = (parse_object(data), {})
        with self.lock:
            self.items[etag] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


PARSED = _ParsedCache(CACHE_SIZE)


def parse_filter(root: ET.Element) -> CompFilter:
    return parse_calendar_filter(root.find(c("filter")))


def _decided_by_index(entry: dict[str, Any], lo: dt.datetime | None,
                      hi: dt.datetime | None) -> bool | None:
    """True/False when the index entry alone decides a plain time-range match, else None."""
    if entry.get("recurring") or entry.get("floating") or entry.get("comp") != "VEVENT":
        return None
    start, end = entry.get("start"), entry.get("end")
    if start is None or end is None:
        return None
    s = dt.datetime.fromtimestamp(start, UTC)
    e = dt.datetime.fromtimestamp(end, UTC)
    return overlaps(s, e, lo, hi)


def build(ctx: DavContext, target: Target, flt: CompFilter, req: RequestedProps) -> ET.Element:
    """Blocking: reads the index and the candidate objects."""
    assert target.collection is not None
    comp, window = outer_time_range(flt)
    lo = window.start if window is not None else None
    hi = window.end if window is not None else None
    coll = ctx.calendars.get(target.collection)
    simple = window is not None and is_simple_range(flt)
    names = []
    for name, entry in ctx.calendars.candidates(target.collection, lo, hi, comp):
        if simple and _decided_by_index(entry, lo, hi) is False:
            continue
        names.append(name)
    responses = []
    for name, entry, data in coll.read_many(names):
        if not (simple and _decided_by_index(entry, lo, hi)):
            try:
                obj, expansions = PARSED.get(str(entry.get("etag")), data)
            except InvalidCalendar:
                continue
            if not calendar_matches(obj.components, flt, expansions):
                continue
        responses.append(object_response(ctx, member_target(target, name), entry, data, req))
    return xml.multistatus(responses)
