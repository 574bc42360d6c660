"""CALDAV:expand (RFC 4791 §9.6.5): a recurring object rewritten as its instances in a range,
each a separate component with a RECURRENCE-ID, times in UTC, no RRULE/RDATE/EXDATE and no
VTIMEZONE; and partial retrieval of components and properties (§9.6.1)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import icalendar
from icalendar.cal import Component

from rmail.ical.parse import parse_calendar, parse_object
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


@dataclass(frozen=True)
class Selection:
    """CALDAV:calendar-data `comp`/`prop` partial retrieval (RFC 4791 §9.6.1)."""

    name: str
    props: frozenset[str] | None = None            # None: allprop
    comps: dict[str, Selection] | None = None      # None: allcomp


def _select(comp: Component, sel: Selection) -> None:
    if sel.props is not None:
        for key in list(comp.keys()):
            if key.upper() not in sel.props:
                del comp[key]
    if sel.comps is not None:
        kept = []
        for sub in comp.subcomponents:
            inner = sel.comps.get(str(sub.name))
            if inner is not None:
                _select(sub, inner)
                kept.append(sub)
        comp.subcomponents = kept


def select(data: bytes, sel: Selection) -> bytes:
    cal = parse_calendar(data)
    _select(cal, sel)
    return cal.to_ical()
