"""rmail.ical.occurrences: what a month/week/day view shows, in the viewer's zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from rmail.ical.occurrences import (
    ParsedCache,
    Source,
    by_day,
    month_weeks,
    occurrences,
    week_start_of,
)

NY, BERLIN, UTC = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin"), dt.UTC


def obj(*events: str, tz: bool = False) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN"]
    for body in events:
        lines += ["BEGIN:VEVENT", *body.strip().splitlines(), "DTSTAMP:20260101T000000Z",
                  "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def src(data: bytes, name: str = "a.ics", calendar: str = "default") -> Source:
    return Source(calendar, name, str(hash(data)), lambda: data)


def test_weekly_series_with_exdate_and_moved_override_in_a_month() -> None:
    data = obj("""UID:w1
SUMMARY:Standup
DTSTART;TZID=Europe/Berlin:20261202T090000
DTEND;TZID=Europe/Berlin:20261202T093000
RRULE:FREQ=WEEKLY;BYDAY=WE
EXDATE;TZID=Europe/Berlin:20261209T090000""", """UID:w1
SUMMARY:Standup (moved)
RECURRENCE-ID;TZID=Europe/Berlin:20261216T090000
DTSTART;TZID=Europe/Berlin:20261217T140000
DTEND;TZID=Europe/Berlin:20261217T150000""")
    occ = occurrences([src(data)], dt.date(2026, 12, 1), dt.date(2026, 12, 31), BERLIN)
    assert [(o.start.strftime("%d %H:%M"), o.summary, o.rid) for o in occ] == [
        ("02 09:00", "Standup", "20261202T080000Z"),
        ("17 14:00", "Standup (moved)", "20261216T080000Z"),
        ("23 09:00", "Standup", "20261223T080000Z"),
        ("30 09:00", "Standup", "20261230T080000Z"),
    ]
    assert all(o.recurring and o.uid == "w1" for o in occ)
    assert occ[1].overridden and not occ[0].overridden


def test_new_york_meeting_seen_from_berlin_across_the_dst_gap() -> None:
    """US clocks change on 8 March 2026, Europe's on 29 March: for three weeks the gap is
    5 hours instead of 6."""
    data = obj("""UID:ny
SUMMARY:NY sync
DTSTART;TZID=America/New_York:20260302T090000
DTEND;TZID=America/New_York:20260302T100000
RRULE:FREQ=WEEKLY;COUNT=6""")
    ny = occurrences([src(data)], dt.date(2026, 3, 1), dt.date(2026, 4, 10), NY)
    berlin = occurrences([src(data)], dt.date(2026, 3, 1), dt.date(2026, 4, 10), BERLIN)
    assert [o.start.strftime("%m-%d %H:%M") for o in ny] == [
        "03-02 09:00", "03-09 09:00", "03-16 09:00", "03-23 09:00", "03-30 09:00",
        "04-06 09:00"]
    assert [o.start.strftime("%m-%d %H:%M") for o in berlin] == [
        "03-02 15:00", "03-09 14:00", "03-16 14:00", "03-23 14:00", "03-30 15:00",
        "04-06 15:00"]
    assert [o.start.utcoffset() for o in berlin[:2]] == [dt.timedelta(hours=1)] * 2


def test_all_day_and_multi_day_placement_is_the_same_in_every_zone() -> None:
    data = obj("""UID:trip
SUMMARY:Trip
DTSTART;VALUE=DATE:20261230
DTEND;VALUE=DATE:20270102""")
    for tz in (NY, BERLIN, ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago")):
        (o,) = occurrences([src(data)], dt.date(2026, 12, 28), dt.date(2027, 1, 3), tz)
        assert o.all_day and o.multi_day
        assert (o.first_day, o.last_day) == (dt.date(2026, 12, 30), dt.date(2027, 1, 1))
        days = by_day([o], dt.date(2026, 12, 28), dt.date(2027, 1, 3))
        assert [d.day for d, items in days.items() if items] == [30, 31, 1]


def test_timed_event_past_midnight_and_ending_at_midnight() -> None:
    late = obj("""UID:late
SUMMARY:Late
DTSTART:20261205T220000Z
DTEND:20261206T020000Z""")
    midnight = obj("""UID:mid
SUMMARY:To midnight
DTSTART:20261205T200000Z
DTEND:20261206T000000Z""")
    occ = occurrences([src(late, "l.ics"), src(midnight, "m.ics")], dt.date(2026, 12, 1),
                      dt.date(2026, 12, 31), UTC)
    days = by_day(occ, dt.date(2026, 12, 5), dt.date(2026, 12, 6))
    assert [o.uid for o in days[dt.date(2026, 12, 5)]] == ["mid", "late"]
    assert [o.uid for o in days[dt.date(2026, 12, 6)]] == ["late"]


def test_floating_time_is_wall_clock_for_the_viewer() -> None:
    data = obj("""UID:f
SUMMARY:Lunch
DTSTART:20261207T120000
DTEND:20261207T130000""")
    for tz in (NY, BERLIN):
        (o,) = occurrences([src(data)], dt.date(2026, 12, 7), dt.date(2026, 12, 7), tz)
        assert o.start.strftime("%H:%M") == "12:00" and o.start.tzinfo == tz


def test_unreadable_objects_and_other_components_are_skipped() -> None:
    todo = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t\r\n" \
        b"DTSTART:20261207T120000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    good = obj("UID:g\nSUMMARY:G\nDTSTART:20261207T120000Z")
    occ = occurrences([src(b"garbage", "x.ics"), src(todo, "t.ics"), src(good, "g.ics")],
                      dt.date(2026, 12, 1), dt.date(2026, 12, 31), UTC)
    assert [o.uid for o in occ] == ["g"]


def test_cache_reparses_only_a_changed_etag() -> None:
    loads: list[str] = []
    data = obj("UID:c\nSUMMARY:One\nDTSTART:20261207T120000Z")

    def source(etag: str, body: bytes) -> Source:
        def load() -> bytes:
            loads.append(etag)
            return body
        return Source("default", "c.ics", etag, load, scope="alice")

    cache = ParsedCache(size=4)
    for _ in range(3):
        occurrences([source("e1", data)], dt.date(2026, 12, 1), dt.date(2026, 12, 31), UTC,
                    cache)
    changed = data.replace(b"One", b"Two")
    (o,) = occurrences([source("e2", changed)], dt.date(2026, 12, 1), dt.date(2026, 12, 31),
                       UTC, cache)
    assert loads == ["e1", "e2"] and o.summary == "Two"


def test_month_weeks_and_week_start() -> None:
    weeks = month_weeks(2026, 12)  # 1 December 2026 is a Tuesday
    assert weeks[0][0] == dt.date(2026, 11, 30) and weeks[-1][-1] == dt.date(2027, 1, 3)
    assert all(len(w) == 7 for w in weeks) and len(weeks) == 5
    sunday = month_weeks(2026, 12, week_start=6)
    assert sunday[0][0] == dt.date(2026, 11, 29) and sunday[0][0].weekday() == 6
    assert week_start_of(dt.date(2026, 12, 6)) == dt.date(2026, 11, 30)
    assert week_start_of(dt.date(2026, 12, 6), 6) == dt.date(2026, 12, 6)
    assert len(month_weeks(2026, 2)) in (4, 5)
