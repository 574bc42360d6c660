"""Free/busy time (RFC 5545 §3.6.4, RFC 4791 §7.10): busy periods of an object's instances in a
range, merged per FBTYPE into one VFREEBUSY."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import icalendar
from icalendar.cal import Component

from rmail.ical.recur import UTC, Expansion, overlaps

Period = tuple[dt.datetime, dt.datetime, str]
PRODID = "-//rmail//CalDAV//EN"


def busy_periods(components: list[Component], lo: dt.datetime, hi: dt.datetime
                 ) -> list[Period]:
    """Opaque, not cancelled VEVENT instances overlapping [lo, hi), clipped to it."""
    out: list[Period] = []
    for inst in Expansion(components).instances(lo, hi):
        comp = inst.component
        if comp.name != "VEVENT" or inst.end <= inst.start:
            continue
        if str(comp.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        status = str(comp.get("STATUS", "CONFIRMED")).upper()
        if status == "CANCELLED":
            continue
        if not overlaps(inst.start, inst.end, lo, hi):
            continue
        fbtype = "BUSY-TENTATIVE" if status == "TENTATIVE" else "BUSY"
        out.append((max(inst.start, lo), min(inst.end, hi), fbtype))
    return out


def merge(periods: Iterable[Period]) -> list[Period]:
    """Union of overlapping periods of the same type, sorted."""
    merged: list[Period] = []
    for fbtype in ("BUSY", "BUSY-TENTATIVE", "BUSY-UNAVAILABLE"):
        spans = sorted((s, e) for s, e, t in periods if t == fbtype)
        current: list[dt.datetime] | None = None
        for s, e in spans:
            if current is not None and s <= current[1]:
                current[1] = max(current[1], e)
                continue
            if current is not None:
                merged.append((current[0], current[1], fbtype))
            current = [s, e]
        if current is not None:
            merged.append((current[0], current[1], fbtype))
    merged.sort(key=lambda p: (p[0], p[1]))
    return merged


def vfreebusy(periods: Iterable[Period], lo: dt.datetime, hi: dt.datetime, *,
              organizer: str | None = None, attendee: str | None = None,
              uid: str | None = None, method: str | None = None) -> bytes:
    cal = icalendar.Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", PRODID)
    if method:
        cal.add("METHOD", method)
    fb = icalendar.FreeBusy()
    fb.add("DTSTAMP", dt.datetime.now(UTC).replace(microsecond=0))
    fb.add("DTSTART", lo.astimezone(UTC))
    fb.add("DTEND", hi.astimezone(UTC))
    if uid:
        fb.add("UID", uid)
    if organizer:
        fb.add("ORGANIZER", organizer)
    if attendee:
        fb.add("ATTENDEE", attendee)
    for start, end, fbtype in merge(periods):
        prop = icalendar.prop.vPeriod((start.astimezone(UTC), end.astimezone(UTC)))
        fb.add("FREEBUSY", prop, parameters={"FBTYPE": fbtype})
    cal.add_component(fb)
    return cal.to_ical()
