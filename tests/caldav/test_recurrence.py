"""rmail.ical.recur on its own: instances, overrides, ranges, bounds, and the fast-forward of
long-running rules (a window years after DTSTART gives exactly the instances a full walk
gives)."""

from __future__ import annotations

import datetime as dt

import pytest

from rmail.ical.meta import object_meta
from rmail.ical.parse import parse_calendar, parse_object, split_objects
from rmail.ical.recur import Expansion, overlaps
from tests.caldav.conftest import FIXTURES, event
from tests.caldav.test_report_query import BERLIN

UTC = dt.UTC
WINDOWS = [(dt.datetime(2020, 1, 1, tzinfo=UTC), dt.datetime(2020, 3, 1, tzinfo=UTC)),
           (dt.datetime(2024, 10, 1, tzinfo=UTC), dt.datetime(2024, 12, 1, tzinfo=UTC)),
           (dt.datetime(2031, 3, 20, tzinfo=UTC), dt.datetime(2031, 4, 10, tzinfo=UTC))]


def starts(exp: Expansion, lo: dt.datetime, hi: dt.datetime) -> set[tuple[dt.datetime, ...]]:
    return {(i.start, i.end) for i in exp.instances(lo, hi) if overlaps(i.start, i.end, lo, hi)}


def full_walk(exp: Expansion, lo: dt.datetime, hi: dt.datetime) -> set[tuple[dt.datetime, ...]]:
    out = set()
    for inst in exp.instances():
        if overlaps(inst.start, inst.end, lo, hi):
            out.add((inst.start, inst.end))
        if inst.start > hi + dt.timedelta(days=400) and inst.recurrence_id is not None \
                and "RECURRENCE-ID" not in inst.component:
            break
    return out


def test_fast_forward_equals_full_walk() -> None:
    daily = event("d", start="20200101T090000Z", end="20200101T093000Z",
                  extra="RRULE:FREQ=DAILY;INTERVAL=3\r\nEXDATE:20311001T090000Z")
    weekly = event("w", start="20200106T090000Z", end="20200106T100000Z",
                   extra="RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH")
    for text in (BERLIN, daily, weekly):
        exp = Expansion(parse_object(text).components)
        for lo, hi in WINDOWS:
            assert starts(exp, lo, hi) == full_walk(exp, lo, hi)


def test_berlin_weekly_keeps_wall_clock_time_years_later() -> None:
    exp = Expansion(parse_object(BERLIN).components)
    lo, hi = dt.datetime(2031, 3, 20, tzinfo=UTC), dt.datetime(2031, 4, 10, tzinfo=UTC)
    got = sorted(s for s, _ in starts(exp, lo, hi))
    # Mondays 09:00 Berlin: CET (08:00Z) until the 30 March 2031 change, then CEST (07:00Z)
    assert got == [dt.datetime(2031, 3, 24, 8, tzinfo=UTC), dt.datetime(2031, 3, 31, 7, tzinfo=UTC),
                   dt.datetime(2031, 4, 7, 7, tzinfo=UTC)]


def test_bounds_of_unbounded_and_bounded_series() -> None:
    meta = object_meta(parse_object(BERLIN))
    assert meta["recurring"] and meta["end"] is None and meta.get("unbounded")
    assert meta["start"] == int(dt.datetime(2024, 3, 18, 8, tzinfo=UTC).timestamp())
    counted = object_meta(parse_object(event("c", extra="RRULE:FREQ=DAILY;COUNT=3")))
    assert counted["end"] == int(dt.datetime(2024, 1, 7, 11, tzinfo=UTC).timestamp())


def test_thisandfuture_override_shifts_later_instances() -> None:
    text = (FIXTURES / "ical" / "recurrence-id_range-thisandfuture.ics")
    if not text.is_file():
        pytest.skip(f"fixture {text} absent")
    cal = parse_calendar(text.read_bytes())
    (obj,) = split_objects(cal)
    exp = Expansion([c for c in obj.subcomponents if c.name == "VEVENT"])
    instances = list(exp.instances(dt.datetime(2024, 9, 1, tzinfo=UTC),
                                   dt.datetime(2024, 10, 1, tzinfo=UTC)))
    assert instances and all(i.end >= i.start for i in instances)


def test_overrides_without_master_are_instances() -> None:
    path = FIXTURES / "ical" / "overrides-without-master.ics"
    if not path.is_file():
        pytest.skip(f"fixture {path} absent")
    cal = parse_calendar(path.read_bytes())
    (obj,) = split_objects(cal)
    exp = Expansion([c for c in obj.subcomponents if c.name == "VEVENT"])
    assert len(list(exp.instances())) == 2
