"""rmail.ical.itip: which iMIP messages an organizer's change calls for."""

from __future__ import annotations

import datetime as dt
import email
from zoneinfo import ZoneInfo

import icalendar

from rmail.ical.eventform import (
    new_event,
    override_occurrence,
    remove_occurrence,
    update_event,
)
from rmail.ical.itip import messages_for_change
from rmail.ical.parse import parse_object
from tests.ical.test_eventform import NOW, fields, shown, stored

ALICE = "alice@example.com"
BERLIN = ZoneInfo("Europe/Berlin")


def series():
    return stored(new_event(fields(rrule="daily", ends="count", count="5",
                                   attendees="bob@example.com, carol@example.org"),
                            "series", organizer=ALICE, now=NOW))


def calendar_of(message: bytes) -> icalendar.Calendar:
    parsed = email.message_from_bytes(message)
    part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    return icalendar.Calendar.from_ical(part.get_payload(decode=True))


def test_deleting_one_occurrence_cancels_just_that_instance() -> None:
    obj = series()
    occ = shown(obj, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    fewer = stored(remove_occurrence(obj, occ[1].rid, now=NOW))
    (out,) = messages_for_change(obj, fewer, {ALICE})
    assert out.method == "CANCEL"
    assert out.recipients == ("bob@example.com", "carol@example.org")
    cal = calendar_of(out.message)
    assert str(cal["METHOD"]) == "CANCEL"
    (event,) = [c for c in cal.walk("VEVENT")]
    assert event["RECURRENCE-ID"].dt == dt.datetime(2026, 12, 8, 9, 0, tzinfo=BERLIN)
    assert str(event["STATUS"]) == "CANCELLED" and str(event["UID"]) == obj.uid
    assert "RRULE" not in event and "EXDATE" not in event


def test_deleting_an_edited_occurrence_cancels_it_for_its_own_attendees() -> None:
    obj = series()
    occ = shown(obj, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    moved = stored(override_occurrence(obj, occ[2].rid, fields(
        summary="Moved", start="2026-12-09T15:00", end="2026-12-09T16:00",
        attendees="bob@example.com"), organizer=ALICE, now=NOW))
    gone = stored(remove_occurrence(moved, occ[2].rid, now=NOW))
    (out,) = messages_for_change(moved, gone, {ALICE})
    (event,) = [c for c in calendar_of(out.message).walk("VEVENT")]
    assert out.method == "CANCEL"
    assert event["RECURRENCE-ID"].dt == dt.datetime(2026, 12, 9, 9, 0, tzinfo=BERLIN)
    attendees = event["ATTENDEE"] if isinstance(event["ATTENDEE"], list) else [event["ATTENDEE"]]
    assert [str(a) for a in attendees] == ["mailto:bob@example.com"]


def test_an_exception_with_another_change_sends_the_series() -> None:
    obj = series()
    occ = shown(obj, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    fewer = remove_occurrence(obj, occ[1].rid, now=NOW)
    next(c for c in fewer.walk("VEVENT"))["LOCATION"] = "Room 2"  # and moved rooms
    both = parse_object(fewer.to_ical())
    (out,) = messages_for_change(obj, both, {ALICE})
    assert out.method == "REQUEST"


def test_a_changed_series_still_sends_a_request() -> None:
    obj = series()
    later = stored(update_event(obj, fields(rrule="daily", ends="count", count="5",
                                            start="2026-12-07T11:00", end="2026-12-07T12:00",
                                            attendees="bob@example.com, carol@example.org"),
                                organizer=ALICE, now=NOW))
    (out,) = messages_for_change(obj, later, {ALICE})
    assert out.method == "REQUEST"
