"""rmail.ical.eventform: the event form → validated fields → iCalendar, and back."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from rmail.ical.eventform import (
    FormError,
    form_values,
    new_event,
    override_occurrence,
    parse_fields,
    remove_occurrence,
    set_partstat,
    update_event,
)
from rmail.ical.itip import attendees_of
from rmail.ical.occurrences import Source, occurrences
from rmail.ical.parse import parse_object

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
BASE = {"summary": "Planning", "start": "2026-12-07T09:00", "end": "2026-12-07T10:00",
        "timezone": "Europe/Berlin"}


def fields(**changes: object):
    form = dict(BASE)
    form.update(changes)
    return parse_fields(form)


def stored(cal) -> object:
    return parse_object(cal.to_ical())


def shown(obj, first: dt.date, last: dt.date, tz: str = "Europe/Berlin"):
    data = obj.calendar.to_ical()
    return occurrences([Source("default", "x.ics", "e", lambda: data)], first, last,
                       ZoneInfo(tz))


@pytest.mark.parametrize(("change", "field"), [
    ({"summary": ""}, "summary"),
    ({"summary": "x" * 1001}, "summary"),
    ({"start": ""}, "start"),
    ({"start": "yesterday"}, "start"),
    ({"end": "2026-12-07T08:00"}, "end"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"rrule": "hourly"}, "rrule"),
    ({"rrule": "weekly", "byday": ["XX"]}, "byday"),
    ({"rrule": "daily", "ends": "count", "count": "0"}, "count"),
    ({"rrule": "daily", "ends": "count", "count": "many"}, "count"),
    ({"rrule": "daily", "ends": "until", "until": "2026-12-01"}, "until"),
    ({"rrule": "daily", "ends": "sometime"}, "ends"),
    ({"attendees": "bob@example.com, not-an-address"}, "attendees"),
    ({"alarm": "-5"}, "alarm"),
    ({"alarm": "soon"}, "alarm"),
    ({"all_day": "on", "start": "2026-12-07", "end": "2026-12-06"}, "end"),
])
def test_every_bad_field_is_named(change: dict, field: str) -> None:
    with pytest.raises(FormError) as info:
        fields(**change)
    assert info.value.field == field and info.value.message


def test_weekly_on_days_with_count_attendees_and_alarm() -> None:
    f = fields(rrule="weekly", byday=["MO", "TH"], ends="count", count="4",
               attendees="Bob <bob@example.com>; carol@example.org", alarm="15",
               location="Room 1", description="agenda\r\nline two")
    cal = new_event(f, "uid-1", organizer="alice@example.com", organizer_name="Alice",
                    now=NOW)
    obj = stored(cal)
    master = obj.master
    assert master["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=4;BYDAY=MO,TH"
    assert str(master["DTSTART"].params["TZID"]) == "Europe/Berlin"
    assert any(c.name == "VTIMEZONE" for c in obj.calendar.subcomponents)
    assert set(attendees_of(master)) == {"bob@example.com", "carol@example.org"}
    assert str(master["ORGANIZER"]) == "mailto:alice@example.com"
    assert master["DESCRIPTION"] == "agenda\nline two"
    (alarm,) = [s for s in master.subcomponents if s.name == "VALARM"]
    assert alarm["TRIGGER"].dt == -dt.timedelta(minutes=15)
    starts = [o.start.strftime("%a %d %H:%M") for o in shown(obj, dt.date(2026, 12, 1),
                                                             dt.date(2026, 12, 31))]
    assert starts == ["Mon 07 09:00", "Thu 10 09:00", "Mon 14 09:00", "Thu 17 09:00"]
    values = form_values(master, "UTC")
    assert values["rrule"] == "weekly" and values["byday"] == ["MO", "TH"]
    assert values["count"] == "4" and values["timezone"] == "Europe/Berlin"
    assert values["start"] == "2026-12-07T09:00" and values["alarm"] == "15"


def test_weekly_without_days_repeats_on_the_start_day_and_until_is_inclusive() -> None:
    f = fields(rrule="weekly", ends="until", until="2026-12-21")
    obj = stored(new_event(f, "u", now=NOW))
    got = [o.start.day for o in shown(obj, dt.date(2026, 12, 1), dt.date(2027, 1, 31))]
    assert got == [7, 14, 21]
    assert form_values(obj.master, "UTC")["until"] == "2026-12-21"


def test_all_day_end_is_the_last_day_shown() -> None:
    f = fields(all_day="on", start="2026-12-24", end="2026-12-26", rrule="yearly")
    obj = stored(new_event(f, "xmas", now=NOW))
    assert obj.master["DTEND"].dt == dt.date(2026, 12, 27)
    values = form_values(obj.master, "UTC")
    assert values["all_day"] and values["start"] == "2026-12-24" and values["end"] == "2026-12-26"
    (o,) = shown(obj, dt.date(2027, 12, 1), dt.date(2027, 12, 31), "America/New_York")
    assert (o.first_day, o.last_day) == (dt.date(2027, 12, 24), dt.date(2027, 12, 26))


def test_update_keeps_what_the_form_does_not_show_and_bumps_sequence() -> None:
    f = fields(rrule="daily", attendees="bob@example.com")
    obj = stored(new_event(f, "u", organizer="alice@example.com", now=NOW))
    obj.master.add("CATEGORIES", "work")
    obj.master.add("X-OTHER", "kept")
    answered = stored(set_partstat(obj, ["bob@example.com"], "ACCEPTED", now=NOW))
    # a changed title only: same SEQUENCE, Bob's answer kept
    same = stored(update_event(answered, fields(rrule="daily", summary="Renamed",
                                                attendees="bob@example.com"),
                               organizer="alice@example.com", now=NOW))
    m = same.master
    assert m["SUMMARY"] == "Renamed" and m["X-OTHER"] == "kept" and "CATEGORIES" in m
    assert int(m["SEQUENCE"]) == 0
    assert attendees_of(m)["bob@example.com"].params["PARTSTAT"] == "ACCEPTED"
    moved = stored(update_event(same, fields(rrule="daily", start="2026-12-07T11:00",
                                             end="2026-12-07T12:00",
                                             attendees="bob@example.com, carol@example.org"),
                                organizer="alice@example.com", now=NOW))
    assert int(moved.master["SEQUENCE"]) == 1
    assert attendees_of(moved.master)["carol@example.org"].params["PARTSTAT"] == "NEEDS-ACTION"


def test_override_one_occurrence_then_remove_another() -> None:
    obj = stored(new_event(fields(rrule="daily", ends="count", count="5"), "s", now=NOW))
    occ = shown(obj, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    third = occ[2]
    changed = stored(override_occurrence(obj, third.rid, fields(
        summary="Moved one", start="2026-12-09T15:00", end="2026-12-09T16:00"), now=NOW))
    assert len(changed.components) == 2
    occ = shown(changed, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert [(o.start.strftime("%d %H"), o.summary) for o in occ] == [
        ("07 09", "Planning"), ("08 09", "Planning"), ("09 15", "Moved one"),
        ("10 09", "Planning"), ("11 09", "Planning")]
    override = next(c for c in changed.components if "RECURRENCE-ID" in c)
    assert "RRULE" not in override and override["RECURRENCE-ID"].dt == \
        dt.datetime(2026, 12, 9, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    # editing the same occurrence again changes the override, not a second one
    again = stored(override_occurrence(changed, third.rid, fields(summary="Again"), now=NOW))
    assert len(again.components) == 2
    fewer = stored(remove_occurrence(again, occ[1].rid, now=NOW))
    assert [o.start.day for o in shown(fewer, dt.date(2026, 12, 1), dt.date(2026, 12, 31))] \
        == [7, 7, 10, 11]
    gone = stored(remove_occurrence(fewer, third.rid, now=NOW))
    assert [o.start.day for o in shown(gone, dt.date(2026, 12, 1), dt.date(2026, 12, 31))] \
        == [7, 10, 11]
    # changing the series' start drops overrides and exceptions (they name old instances)
    reset = stored(update_event(gone, fields(rrule="daily", ends="count", count="5",
                                             start="2026-12-07T08:00"), now=NOW))
    assert len(reset.components) == 1 and "EXDATE" not in reset.master
    with pytest.raises(FormError):
        override_occurrence(obj, "garbage", fields())


def test_partstat_only_for_an_invited_user() -> None:
    obj = stored(new_event(fields(attendees="bob@example.com"), "p",
                           organizer="alice@example.com", now=NOW))
    with pytest.raises(FormError):
        set_partstat(obj, ["mallory@example.com"], "ACCEPTED")
    with pytest.raises(FormError):
        set_partstat(obj, ["bob@example.com"], "MAYBE")
    answered = stored(set_partstat(obj, ["BOB@example.com"], "tentative", now=NOW))
    att = attendees_of(answered.master)["bob@example.com"]
    assert att.params["PARTSTAT"] == "TENTATIVE" and "RSVP" not in att.params


def test_the_forms_reminder_fires_before_every_occurrence() -> None:
    """The VALARM the form writes is what the reminder task reads (rmail.ical.alarms), on
    every occurrence, in the event's zone across the DST change of 29 March 2026."""
    from rmail.ical.alarms import firings
    from rmail.ical.meta import object_meta

    f = fields(start="2026-03-23T09:00", end="2026-03-23T10:00", rrule="weekly",
               ends="count", count="2", alarm="15")
    obj = stored(new_event(f, "remind", now=NOW))
    assert object_meta(obj)["alarm"] is True
    lo, hi = dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 4, 30, tzinfo=dt.UTC)
    got = [x.at for x in firings(obj.components, lo, hi)]
    assert got == [dt.datetime(2026, 3, 23, 7, 45, tzinfo=dt.UTC),   # 08:45 CET
                   dt.datetime(2026, 3, 30, 6, 45, tzinfo=dt.UTC)]   # 08:45 CEST
