"""What a calendar view shows: the occurrences of a period, for a set of calendars, in the
viewer's time zone, and how they fall on days.

A recurring series is expanded (`rmail.ical.recur.Expansion`: RRULE/RDATE, EXDATE, overrides
by RECURRENCE-ID, RANGE=THISANDFUTURE) for the period only. Times with a TZID keep their own
zone's rules and are converted to the viewer's zone, so a 09:00 New York meeting shows at 15:00
in Berlin except in the weeks when only one side has changed to summer time. All-day dates and
floating times belong to no zone (RFC 5545 §3.3.4, §3.3.5): they are read as wall-clock in the
viewer's zone, so an all-day event covers the same dates for everyone.

Parsing an object costs far more than expanding it for a month, so parsed objects are kept in
a bounded `ParsedCache` keyed by (collection, resource, ETag): a view re-parses only what
changed since the last one. Pure: the caller hands in bytes through `Source.load`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from icalendar.cal import Component

from rmail.ical.parse import InvalidCalendar, parse_object
from rmail.ical.recur import Expansion, Instance, overlaps

__all__ = ["Occurrence", "ParsedCache", "Source", "by_day", "local_bounds", "month_weeks",
           "occurrences", "rid_text", "week_start_of"]

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Source:
    """One stored object a view may show: where it lives, its ETag, how to read it."""

    calendar: str
    name: str
    etag: str
    load: Callable[[], bytes]
    scope: str = ""        # what makes (calendar, name) unique across users: the home path


@dataclass(frozen=True)
class Occurrence:
    """One shown occurrence. `start`/`end` are aware, in the viewer's zone (end exclusive);
    for all-day occurrences they are local midnights. `rid` names the occurrence of a series
    (`rid_text`), '' for a single event."""

    calendar: str
    name: str
    uid: str
    summary: str
    location: str
    start: dt.datetime
    end: dt.datetime
    all_day: bool
    rid: str
    recurring: bool
    status: str
    overridden: bool

    @property
    def first_day(self) -> dt.date:
        return self.start.date()

    @property
    def last_day(self) -> dt.date:
        """The last local day the occurrence touches (an end at midnight is the day before)."""
        if self.end <= self.start:
            return self.start.date()
        return (self.end - dt.timedelta(microseconds=1)).date()

    @property
    def multi_day(self) -> bool:
        return self.last_day > self.first_day

    def sort_key(self) -> tuple[dt.datetime, int, dt.datetime, str, str]:
        return (self.start, 0 if self.all_day else 1, self.end, self.summary.lower(), self.uid)


def rid_text(value: dt.date | dt.datetime | None) -> str:
    """A RECURRENCE-ID as one URL-safe token: `YYYYMMDD` (date), `YYYYMMDDTHHMMSSZ` (a time
    with a zone, in UTC) or `YYYYMMDDTHHMMSS` (floating)."""
    if value is None:
        return ""
    if not isinstance(value, dt.datetime):
        return value.strftime("%Y%m%d")
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%dT%H%M%S")


@dataclass
class _Parsed:
    uid: str
    expansion: Expansion
    recurring: bool


class ParsedCache:
    """Parsed and rule-compiled objects, bounded LRU, shared by the threads of one process."""

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, ...], _Parsed | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, source: Source, tz: dt.tzinfo) -> _Parsed | None:
        key = (source.scope, source.calendar, source.name, source.etag, str(tz))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        parsed = _parse(source, tz)
        with self._lock:
            self._items[key] = parsed
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return parsed


def _parse(source: Source, tz: dt.tzinfo) -> _Parsed | None:
    try:
        obj = parse_object(source.load())
    except (InvalidCalendar, OSError, LookupError):
        return None
    if obj.component != "VEVENT":
        return None
    try:
        exp = Expansion(obj.components, floating=tz)
    except Exception:  # a rule dateutil cannot compile: show nothing rather than fail the view
        return None
    return _Parsed(obj.uid, exp, exp.recurring or len(obj.components) > 1)


def local_bounds(first: dt.date, last: dt.date, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """[first 00:00, (last + 1) 00:00) in `tz`, as UTC instants."""
    lo = dt.datetime.combine(first, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    hi = dt.datetime.combine(last + DAY, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    return lo, hi


def _text(comp: Component, name: str) -> str:
    value = comp.get(name)
    return "" if value is None else str(value)


def _occurrence(source: Source, parsed: _Parsed, inst: Instance, tz: dt.tzinfo) -> Occurrence:
    comp = inst.component
    start, end = inst.start.astimezone(tz), inst.end.astimezone(tz)
    if inst.all_day:  # local midnights of the dates, whatever the UTC instants say
        start = dt.datetime.combine(start.date(), dt.time(), tzinfo=tz)
        end = dt.datetime.combine(end.date(), dt.time(), tzinfo=tz)
        if end <= start:
            end = start + DAY
    return Occurrence(
        calendar=source.calendar, name=source.name, uid=parsed.uid,
        summary=_text(comp, "SUMMARY") or "(no title)", location=_text(comp, "LOCATION"),
        start=start, end=end, all_day=inst.all_day,
        rid=rid_text(inst.recurrence_id) if parsed.recurring else "",
        recurring=parsed.recurring, status=_text(comp, "STATUS").upper(),
        overridden="RECURRENCE-ID" in comp)


def occurrences(sources: Iterable[Source], first: dt.date, last: dt.date, tz: dt.tzinfo,
                cache: ParsedCache | None = None) -> list[Occurrence]:
    """Every VEVENT occurrence touching the local days [first, last], sorted by start
    (all-day first on a day). Unreadable objects are skipped, never fatal."""
    lo, hi = local_bounds(first, last, tz)
    out: list[Occurrence] = []
    for source in sources:
        parsed = cache.get(source, tz) if cache is not None else _parse(source, tz)
        if parsed is None:
            continue
        for inst in parsed.expansion.instances(lo, hi):
            if overlaps(inst.start, inst.end, lo, hi):
                out.append(_occurrence(source, parsed, inst, tz))
    out.sort(key=Occurrence.sort_key)
    return out


def by_day(items: Iterable[Occurrence], first: dt.date, last: dt.date
           ) -> dict[dt.date, list[Occurrence]]:
    """Each day of [first, last] with the occurrences it shows: a multi-day occurrence on
    every day it covers, all-day ones first, then by start."""
    days: dict[dt.date, list[Occurrence]] = {}
    day = first
    while day <= last:
        days[day] = []
        day += DAY
    for occ in items:
        day = max(occ.first_day, first)
        end = min(occ.last_day, last)
        while day <= end:
            days[day].append(occ)
            day += DAY
    for values in days.values():
        values.sort(key=lambda o: (0 if o.all_day else 1, o.start, o.summary))
    return days


def week_start_of(day: dt.date, week_start: int = 0) -> dt.date:
    """The first day of `day`'s week; `week_start` 0 = Monday ... 6 = Sunday."""
    return day - dt.timedelta(days=(day.weekday() - week_start) % 7)


def month_weeks(year: int, month: int, week_start: int = 0) -> list[list[dt.date]]:
    """The whole weeks that show month `month`: 4 to 6 rows of 7 days."""
    first = dt.date(year, month, 1)
    start = week_start_of(first, week_start)
    next_month = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    weeks: list[list[dt.date]] = []
    while start < next_month:
        weeks.append([start + dt.timedelta(days=i) for i in range(7)])
        start += dt.timedelta(days=7)
    return weeks
