"""rmail.scheduling.events: changes made outside CalDAV (the webmail calendar) followed by
iMIP through the real delivery pipeline between two local users: REQUEST on create, REPLY on
an answer, CANCEL on delete; lost updates refused by ETag; all-or-nothing imports."""

from __future__ import annotations

import datetime as dt

import pytest

from rmail.ical import itip
from rmail.ical.eventform import new_event, parse_fields, set_partstat, update_event
from rmail.ical.importing import prepare_import
from rmail.ical.parse import parse_object
from rmail.scheduling import events
from rmail.store.calendars import CalendarStore
from rmail.store.davstore import UidConflict
from rmail.store.errors import PreconditionFailed
from tests.caldav.test_imip import inbox_subjects, read_object

FORM = {"summary": "Weekly review", "start": "2030-01-07T10:00", "end": "2030-01-07T11:00",
        "timezone": "Europe/Berlin", "rrule": "weekly", "byday": ["MO"], "ends": "count",
        "count": "3", "attendees": "bob@example.com"}


def homes(services):
    store = CalendarStore(services.config.mail_root)
    alice, bob = store.home("example.com", "alice"), store.home("example.com", "bob")
    alice.ensure_defaults()
    bob.ensure_defaults()
    return alice, bob


async def test_create_answer_cancel_between_local_users(services) -> None:
    alice_home, bob_home = homes(services)
    alice = events.Actor.of(services.accounts.get("example.com", "alice"))
    bob = events.Actor.of(services.accounts.get("example.com", "bob"))
    cal = new_event(parse_fields(FORM), "review-1", organizer=alice.address)
    out = await events.save(services, alice_home, alice, "default", cal)
    assert out.name == "review-1.ics" and not out.failed
    assert [m.method for m in out.sent] == ["REQUEST"] and "bob@example.com" in out.summary()
    # bob has the mail and the event in his Schedule-Inbox
    assert any(s.startswith("Invitation: Weekly review") for s in inbox_subjects(services,
                                                                                 "bob"))
    name, etag, copy = events.load(bob_home, "Schedule-Inbox", "review-1")
    # bob accepts: REPLY to alice, whose copy now says ACCEPTED
    answered = set_partstat(copy, bob.addresses, "ACCEPTED")
    out = await events.save(services, bob_home, bob, "Schedule-Inbox", answered, old=copy,
                            name=name, if_match=etag)
    assert [m.method for m in out.sent] == ["REPLY"]
    _, alice_etag, mine = events.load(alice_home, "default", "review-1")
    assert itip.attendees_of(mine.master)["bob@example.com"].params["PARTSTAT"] == "ACCEPTED"
    # a stale form (the ETag before bob's answer arrived) is refused, not overwritten
    stale = update_event(mine, parse_fields(dict(FORM, summary="Renamed")))
    with pytest.raises(PreconditionFailed):
        await events.save(services, alice_home, alice, "default", stale, old=mine,
                          name="review-1.ics", if_match=out.etag)
    # alice deletes it: CANCEL, bob's copy is marked cancelled
    out = await events.delete(services, alice_home, alice, "default", "review-1",
                              if_match=alice_etag)
    assert [m.method for m in out.sent] == ["CANCEL"]
    assert read_object(services, "alice", "review-1") is None
    bob_copy = parse_object(read_object(services, "bob", "review-1") or b"")
    assert str(bob_copy.master["STATUS"]) == "CANCELLED"
    assert any(s.startswith("Cancelled") for s in inbox_subjects(services, "bob"))


async def test_event_without_attendees_sends_nothing(services) -> None:
    alice_home, _ = homes(services)
    alice = events.Actor.of(services.accounts.get("example.com", "alice"))
    form = dict(FORM, attendees="")
    out = await events.save(services, alice_home, alice, "default",
                            new_event(parse_fields(form), "solo"))
    assert out.sent == [] and out.failed == []
    with pytest.raises(PreconditionFailed):  # a second create of the same resource
        await events.save(services, alice_home, alice, "default",
                          new_event(parse_fields(form), "solo"))


async def test_import_is_all_or_nothing(services) -> None:
    alice_home, _ = homes(services)
    good = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + "".join(
        f"BEGIN:VEVENT\r\nUID:imp-{i}\r\nDTSTART:2030010{i}T100000Z\r\nSUMMARY:S{i}\r\n"
        "END:VEVENT\r\n" for i in range(1, 4)) + "END:VCALENDAR\r\n").encode()
    assert await events.import_items(alice_home, "default", prepare_import(good),
                                    run=services.run) == (3, 0)
    again = good.replace(b"SUMMARY:S1", b"SUMMARY:changed")
    assert await events.import_items(alice_home, "default", prepare_import(again),
                                    run=services.run) == (0, 3)
    assert b"SUMMARY:changed" in (read_object(services, "alice", "imp-1") or b"")
    # a resource name already taken by another UID stops the whole batch
    coll = alice_home.get("default")
    alice_home.put_object("default", "imp-9.ics", (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:other\r\n"
        b"DTSTART:20300101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
    before = coll.changes_since(None).token
    clash = good.replace(b"UID:imp-3", b"UID:imp-9").replace(b"SUMMARY:S2", b"SUMMARY:no")
    with pytest.raises(UidConflict):
        await events.import_items(alice_home, "default", prepare_import(clash),
                                    run=services.run)
    assert coll.changes_since(before).changed == []
    assert b"SUMMARY:S2" in (read_object(services, "alice", "imp-2") or b"")


def test_resource_names() -> None:
    assert events.resource_name("abc@example.com") == "abc@example.com.ics"
    for uid in ("../../etc/passwd", ".hidden", "a/b", "x" * 300, "tab\there"):
        name = events.resource_name(uid)
        assert name.endswith(".ics") and "/" not in name and not name.startswith(".")
    assert "@" in events.new_uid("example.com") and dt.date.today()
