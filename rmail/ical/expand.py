"""CALDAV:expand (RFC 4791 §9.6.5): a recurring object rewritten as its instances in a range,
each a separate component with a RECURRENCE-ID, times in UTC, no RRULE/RDATE/EXDATE and no
VTIMEZONE."""

from __future__ import annotations

import datetime as dt

import icalendar
from icalendar.cal import Component

from rmail.ical.parse import parse_object
from rmail.ical.recur import Expansion, overlaps, todo_matches

_DROP = ("RRULE", "RDATE", "EXDATE", "EXRULE", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID",
         "DUE")


def _copy(comp: Component) -> Component:
    return Component.from_ical(comp.to_ical())


def expand(data: bytes, start: dt.datetime | None, end: dt.datetime | None) -> bytes:
    obj = parse_object(data)
    exp = Expansion(obj.components)
    out = icalendar.Calendar()
    for key in ("VERSION", "PRODID", "CALSCALE"):
        if key in obj.calendar:
            out[key] = obj.calendar[key]
    if "VERSION" not in out:
        out.add("VERSION", "2.0")
    if "PRODID" not in out:
        out.add("PRODID", "-//rmail//CalDAV//EN")
    recurring = exp.recurring or len(obj.components) > 1
    for inst in exp.instances(start, end):
        comp = inst.component
        if comp.name == "VTODO":
            if not todo_matches(comp, inst, start, end):
                continue
        elif not overlaps(inst.start, inst.end, start, end):
            continue
        new = _copy(comp)
        for name in _DROP:
            if name in new:
                del new[name]
        if inst.all_day:
            new.add("DTSTART", inst.start.date())
            if inst.end > inst.start:
                new.add("DTEND", inst.end.date())
        else:
            new.add("DTSTART", inst.start)
            if inst.end > inst.start:
                new.add("DUE" if comp.name == "VTODO" else "DTEND", inst.end)
        if recurring and inst.recurrence_id is not None:
            rid = inst.recurrence_id
            if isinstance(rid, dt.datetime) and rid.tzinfo is not None:
                rid = rid.astimezone(dt.UTC)
            new.add("RECURRENCE-ID", rid)
        out.add_component(new)
    return out.to_ical()
