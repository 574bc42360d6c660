"""Several calendar objects as one VCALENDAR stream (GET on a calendar collection)."""

from __future__ import annotations

from collections.abc import Iterable

import icalendar

from rmail.ical.parse import InvalidCalendar, parse_calendar

PRODID = "-//rmail//CalDAV//EN"


def merge_calendars(objects: Iterable[bytes], headers: dict[str, str] | None = None) -> bytes:
    """Components of every object, VTIMEZONEs once per TZID; `headers` are extra calendar
    properties (X-WR-CALNAME for a download)."""
    out = icalendar.Calendar()
    out.add("VERSION", "2.0")
    out.add("PRODID", PRODID)
    for key, value in (headers or {}).items():
        out.add(key, value)
    seen_tz: set[str] = set()
    for data in objects:
        try:
            cal = parse_calendar(data)
        except InvalidCalendar:
            continue
        for comp in cal.subcomponents:
            if comp.name == "VTIMEZONE":
                tzid = str(comp.get("TZID", ""))
                if tzid in seen_tz:
                    continue
                seen_tz.add(tzid)
            out.add_component(comp)
    return out.to_ical()
