"""Per-object metadata computed once at PUT and kept in the collection index, so a time-range
query or the reminder scan only opens the objects that can match."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rmail.ical.parse import CalendarObject
from rmail.ical.recur import UTC, Expansion


def _epoch(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def object_meta(obj: CalendarObject, floating: dt.tzinfo = UTC) -> dict[str, Any]:
    """`start`/`end`: UTC epoch seconds of the first instance's start and the last instance's
    end (`end` None: unbounded); both None when the object has no time (always a candidate).
    `floating`: some time is floating or all-day, so bounds are widened when matching."""
    comps = obj.components
    recurring = len(comps) > 1
    try:
        exp = Expansion(comps, floating)
        first, last = exp.bounds()
        recurring = recurring or exp.recurring
    except Exception:  # a rule dateutil cannot expand: keep the object, match it always
        first, last = None, None
    floating_time = False
    for comp in comps:
        for name in ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID"):
            prop = comp.get(name)
            value = getattr(prop, "dt", None)
            if isinstance(value, dt.date) and (not isinstance(value, dt.datetime)
                                                or value.tzinfo is None):
                floating_time = True
    meta: dict[str, Any] = {
        "uid": obj.uid,
        "comp": obj.component,
        "start": _epoch(first),
        "end": _epoch(last) if first is not None else None,
        "recurring": recurring,
    }
    if first is not None and last is None:
        meta["end"] = None
        meta["unbounded"] = True
    if floating_time:
        meta["floating"] = True
    if any(sub.name == "VALARM" for comp in comps for sub in comp.subcomponents):
        meta["alarm"] = True
    if any("ATTENDEE" in comp for comp in comps):
        meta["scheduling"] = True
    summary = comps[0].get("SUMMARY") if comps else None
    if summary is not None:
        meta["summary"] = str(summary)[:200]
    return meta
