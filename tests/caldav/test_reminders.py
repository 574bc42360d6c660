"""VALARM reminders: relative, absolute and recurring triggers, delivered to INBOX exactly once
per firing, also after a restart (state persisted)."""

from __future__ import annotations

import asyncio
import datetime as dt

from rmail.scheduling import reminders
from rmail.services import build_services
from tests.caldav.conftest import event
from tests.caldav.test_imip import inbox_subjects

UTC = dt.UTC
RELATIVE = event("rel", start="20300105T100000Z", end="20300105T110000Z", summary="Dentist",
                 extra="BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:go\r\n"
                       "TRIGGER:-PT15M\r\nEND:VALARM")
ABSOLUTE = event("abs", start="20300106T100000Z", end="20300106T110000Z", summary="Flight",
                 extra="BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:pack\r\n"
                       "TRIGGER;VALUE=DATE-TIME:20300105T200000Z\r\nEND:VALARM")
DAILY = event("daily", start="20300105T080000Z", end="20300105T083000Z", summary="Standup",
              extra="RRULE:FREQ=DAILY;COUNT=3\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n"
                    "DESCRIPTION:standup\r\nTRIGGER;RELATED=END:-PT10M\r\nEND:VALARM")
SILENT = event("none", start="20300105T100000Z", end="20300105T110000Z", summary="Silent",
               extra="BEGIN:VALARM\r\nACTION:NONE\r\nTRIGGER:-PT15M\r\nEND:VALARM")


def at(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


async def scan(services, when: str) -> int:
    return await asyncio.to_thread(reminders.scan_once, services, at(when))


async def test_reminders_exactly_once(dav, services, tmp_config) -> None:
    for name, body in (("rel", RELATIVE), ("abs", ABSOLUTE), ("daily", DAILY),
                       ("none", SILENT)):
        assert (await dav.put(dav.cal() + f"{name}.ics", body)).status == 201
    assert await scan(services, "20300105T080000") == 0
    # daily: 08:30 end - 10 min = 08:20; due within the coming minute
    assert await scan(services, "20300105T081930") == 1
    assert await scan(services, "20300105T082000") == 0
    # relative: 09:45 for the 10:00 dentist; ACTION:NONE stays silent
    assert await scan(services, "20300105T094430") == 1
    assert await scan(services, "20300105T094600") == 0
    # a restart (new services, same store) does not repeat anything
    restarted = build_services(tmp_config)
    assert await scan(restarted, "20300105T094700") == 0
    # absolute trigger, once although the event is not recurring
    assert await scan(restarted, "20300105T200000") == 1
    # missed while down: the next day's daily firing is caught up
    assert await scan(restarted, "20300106T090000") == 1
    assert await scan(restarted, "20300107T082000") == 1
    assert await scan(restarted, "20300108T082000") == 0  # COUNT=3 is over
    subjects = inbox_subjects(services, "alice")
    assert sum(s.startswith("Reminder: Standup") for s in subjects) == 3
    assert sum(s.startswith("Reminder: Dentist") for s in subjects) == 1
    assert sum(s.startswith("Reminder: Flight") for s in subjects) == 1
    assert not any("Silent" in s for s in subjects)
    assert not inbox_subjects(services, "bob")
