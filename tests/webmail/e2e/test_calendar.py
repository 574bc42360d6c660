"""The webmail calendar in a real browser (Debian Chromium through Playwright) against a real
`rmail serve`: an invitation between two local users from creation to cancellation, one
occurrence edited, visibility kept across reloads, every fixture file imported or refused, a
round trip with the `caldav` client library, and two users in New York and Berlin across a
DST change."""

from __future__ import annotations

import importlib.machinery
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rmail.store.calendars import CalendarStore
from rmail.store.preferences import Preferences
from tests.mailenv import PASSWORD
from tests.webmail.e2e import pages

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.webmail.e2e.server import RmailServer

CLIENT = Path(__file__).with_name("caldav_client.py")


def _fixtures() -> Path:
    beside = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
    team = Path("/work/shared/fixtures")
    return beside if beside.is_dir() or not team.is_dir() else team


ICAL = sorted((_fixtures() / "ical").glob("*.ics"))


def go(page: Page, rmail: RmailServer, path: str) -> None:
    page.goto(rmail.url(path))


def click(page: Page, selector: str, nth: int = 0, **options: str) -> None:
    """Click the `nth` match and wait for the page it opens."""
    with page.expect_navigation():
        page.locator(selector, **options).nth(nth).click()


def shown(page: Page, uid: str) -> list[dict[str, str | None]]:
    events = page.locator(f'.cal-event[data-uid="{uid}"]')
    return [pages.attrs(e, "data-calendar", "data-start", "data-rid") for e in events.all()]


def new_event(page: Page, **fields: str | list[str]) -> str:
    """Fill form.event-form through its inputs and save; the new event's UID."""
    click(page, "a.action-new-event")
    form = page.locator("form.event-form")
    form.locator("[name=summary]").fill(str(fields["summary"]))
    form.locator("[name=start]").fill(str(fields["start"]))
    form.locator("[name=end]").fill(str(fields["end"]))
    form.locator("[name=timezone]").select_option(str(fields["timezone"]))
    if "rrule" in fields:
        form.locator("[name=rrule]").select_option(str(fields["rrule"]))
        for day in fields.get("byday", []):
            form.locator(f'[name=byday][value="{day}"]').check()
        form.locator("[name=ends]").select_option("count")
        form.locator("[name=count]").fill(str(fields["count"]))
    if "attendees" in fields:
        form.locator("[name=attendees]").fill(str(fields["attendees"]))
    with page.expect_navigation():
        form.locator("button.action-save").click()
    detail = page.locator(".event-detail")
    detail.wait_for()
    return str(detail.get_attribute("data-uid"))


def inbox_subjects(page: Page, rmail: RmailServer) -> list[str]:
    go(page, rmail, "/webmail/INBOX")
    return pages.texts(page.locator("tr.message-row td.col-subject"))


@pytest.fixture
def second(chromium: Browser) -> Iterator[Page]:
    """A second person's browser (own cookies)."""
    context = chromium.new_context(ignore_https_errors=True,
                                   viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_invitation_accept_edit_occurrence_and_cancel(rmail: RmailServer, page: Page,
                                                       second: Page, shots) -> None:
    alice, bob = rmail.add_user(), rmail.add_user()
    pages.login(page, rmail, alice)
    go(page, rmail, "/webmail/calendar/month?date=2026-12-07")
    uid = new_event(page, summary="Weekly sync", start="2026-12-07T10:00",
                    end="2026-12-07T11:00", timezone="Europe/Berlin", rrule="weekly",
                    byday=["MO", "WE"], count="4", attendees=bob)
    assert page.locator(".event-detail").get_attribute("data-calendar") == "default"
    assert "Weekly on Monday and Wednesday, 4 times" in page.locator(
        ".event-recurrence").inner_text()
    shots(page, "calendar-detail")
    # every view, with the manual's selectors
    go(page, rmail, "/webmail/calendar/month?date=2026-12-07")
    assert page.locator(".cal-grid.month").count() == 1
    assert len(shown(page, uid)) == 4
    assert {e["data-calendar"] for e in shown(page, uid)} == {"default"}
    shots(page, "calendar-month")
    go(page, rmail, "/webmail/calendar/week?date=2026-12-07")
    assert page.locator(".cal-grid.week").count() == 1 and len(shown(page, uid)) == 2
    go(page, rmail, "/webmail/calendar/day?date=2026-12-09")
    assert page.locator(".cal-grid.day").count() == 1 and len(shown(page, uid)) == 1
    go(page, rmail, "/webmail/calendar/agenda?date=2026-12-01")
    assert page.locator(".agenda-list").count() == 1 and len(shown(page, uid)) == 4
    click(page, "a.cal-next")
    assert "date=2026-12-31" in page.url and len(shown(page, uid)) == 0

    # bob: the invitation in his mail and in his calendar; he accepts from the browser
    bob_page = second
    pages.login(bob_page, rmail, bob)
    assert any(s.startswith("Invitation: Weekly sync") for s in inbox_subjects(bob_page,
                                                                              rmail))
    go(bob_page, rmail, "/webmail/calendar/month?date=2026-12-07")
    assert {e["data-calendar"] for e in shown(bob_page, uid)} == {"Schedule-Inbox"}
    click(bob_page, f'.cal-event[data-uid="{uid}"]')
    click(bob_page, "button.action-accept")
    assert bob_page.locator(".rsvp-form").get_attribute("data-partstat") == "ACCEPTED"

    # alice sees ACCEPTED
    go(page, rmail, "/webmail/calendar/month?date=2026-12-07")
    click(page, f'.cal-event[data-uid="{uid}"]')
    page.locator(f'.attendee[data-address="{bob}"][data-partstat="ACCEPTED"]').wait_for()

    # one occurrence moved: the second one (Wednesday 9 December)
    go(page, rmail, "/webmail/calendar/month?date=2026-12-07")
    click(page, f'.cal-event[data-uid="{uid}"]', nth=1)
    click(page, "a.action-edit")
    form = page.locator("form.event-form")
    assert form.locator("[name=start]").input_value() == "2026-12-09T10:00"
    form.locator("[name=summary]").fill("Sync (moved)")
    form.locator("[name=start]").fill("2026-12-09T14:00")
    form.locator("[name=end]").fill("2026-12-09T15:00")
    with page.expect_navigation():
        form.locator("button.action-save").click()
    go(page, rmail, "/webmail/calendar/day?date=2026-12-09")
    (moved,) = shown(page, uid)
    assert moved["data-start"] == "2026-12-09T13:00:00+00:00"  # 14:00 Berlin, shown in UTC
    assert page.locator(".cal-event .cal-summary", has_text="Sync (moved)").count() == 1

    # alice deletes the series: bob is told, his copy is cancelled
    click(page, f'.cal-event[data-uid="{uid}"]')
    click(page, "button.action-delete")
    go(page, rmail, "/webmail/calendar/month?date=2026-12-07")
    assert shown(page, uid) == []
    assert any(s.startswith("Cancelled") for s in inbox_subjects(bob_page, rmail))
    go(bob_page, rmail, "/webmail/calendar/month?date=2026-12-07")
    assert bob_page.locator(f'.cal-event.cancelled[data-uid="{uid}"]').count() >= 3


def test_visibility_survives_a_reload(rmail: RmailServer, page: Page, user: str) -> None:
    pages.login(page, rmail, user)
    go(page, rmail, "/webmail/calendar/month?date=2026-12-07")
    uid = new_event(page, summary="Hidden soon", start="2026-12-08T09:00",
                    end="2026-12-08T10:00", timezone="UTC")
    go(page, rmail, "/webmail/calendar/month?date=2026-12-07")
    row = page.locator('.cal-row[data-calendar="default"]')
    assert row.get_attribute("data-visible") == "true" and len(shown(page, uid)) == 1
    with page.expect_navigation():
        row.locator("button.cal-toggle").click()
    page.reload()
    row = page.locator('.cal-row[data-calendar="default"]')
    assert row.get_attribute("data-visible") == "false" and shown(page, uid) == []
    local = user.split("@")[0]
    prefs = Preferences(rmail.mail_root).get("example.com", local)
    assert prefs["calendar_visible"]["default"] is False
    with page.expect_navigation():
        row.locator("button.cal-toggle").click()
    page.reload()
    assert len(shown(page, uid)) == 1


@pytest.mark.skipif(not ICAL, reason="fixture folder ../shared/fixtures/ical absent")
def test_every_fixture_through_the_upload_form(rmail: RmailServer, page: Page,
                                               user: str) -> None:
    pages.login(page, rmail, user)
    outcomes: dict[str, str] = {}
    for path in ICAL:
        go(page, rmail, "/webmail/calendar/import")
        form = page.locator("form.import-form")
        form.locator("[name=file]").set_input_files(str(path))
        with page.expect_navigation():
            form.locator("button.action-import-file").click()
        if page.locator(".import-result").count():
            outcomes[path.name] = "imported"
        else:
            message = page.locator(".form-error").inner_text()
            assert message, path.name
            outcomes[path.name] = message
    assert outcomes["date-vs-datetime_matrix_broken-end.ics"].startswith("line 11:")
    assert sum(1 for v in outcomes.values() if v == "imported") >= len(ICAL) - 2, outcomes
    for view in ("month", "week", "day", "agenda"):
        for date in ("2000-01-01", "2020-11-16", "2026-12-06"):
            response = page.goto(rmail.url(f"/webmail/calendar/{view}?date={date}"))
            assert response is not None and response.status == 200


def caldav_installed() -> bool:
    paths = [p for p in sys.path if "site-packages" in p]
    return importlib.machinery.PathFinder.find_spec("caldav", paths) is not None


def caldav(rmail: RmailServer, user: str, *args: str) -> dict[str, str]:
    out = subprocess.run([sys.executable, str(CLIENT), rmail.url("/caldav/"), user, PASSWORD,
                          *args], capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


@pytest.mark.skipif(not caldav_installed(), reason="the caldav client library is not installed")
def test_caldav_client_and_browser_round_trip(rmail: RmailServer, page: Page,
                                              user: str) -> None:
    caldav(rmail, user, "put", "from-client-1", "Made in a CalDAV app", "2026-12-10T08:00:00")
    pages.login(page, rmail, user)
    go(page, rmail, "/webmail/calendar/day?date=2026-12-10")
    assert shown(page, "from-client-1")[0]["data-calendar"] == "default"
    uid = new_event(page, summary="Made in the browser", start="2026-12-11T09:30",
                    end="2026-12-11T10:30", timezone="Europe/Berlin")
    got = caldav(rmail, user, "get", uid)
    assert got["summary"] == "Made in the browser"
    assert got["start"].startswith("2026-12-11T09:30")


def agenda_times(page: Page, rmail: RmailServer, uid: str) -> list[str]:
    """Local start times in two agenda pages (30 days each) from 1 March 2026."""
    go(page, rmail, "/webmail/calendar/agenda?date=2026-03-01")
    times = [str(e["data-start"])[11:16] for e in shown(page, uid)]
    click(page, "a.cal-next")
    return times + [str(e["data-start"])[11:16] for e in shown(page, uid)]


def test_new_york_and_berlin_across_a_dst_change(rmail: RmailServer, page: Page,
                                                 second: Page) -> None:
    """US clocks go forward on 8 March 2026, Europe's on 29 March: a 09:00 New York meeting is
    at 15:00 in Berlin, then 14:00 for three weeks, then 15:00 again."""
    ny, berlin = rmail.add_user(), rmail.add_user()
    prefs = Preferences(rmail.mail_root)
    prefs.update("example.com", ny.split("@")[0], lambda d: d.update(timezone="America/New_York"))
    prefs.update("example.com", berlin.split("@")[0],
                 lambda d: d.update(timezone="Europe/Berlin"))
    pages.login(page, rmail, ny)
    go(page, rmail, "/webmail/calendar/month?date=2026-03-02")
    uid = new_event(page, summary="Transatlantic", start="2026-03-02T09:00",
                    end="2026-03-02T10:00", timezone="America/New_York", rrule="weekly",
                    count="6", attendees=berlin)
    ny_times = agenda_times(page, rmail, uid)
    assert ny_times == ["09:00"] * 6
    other = second
    pages.login(other, rmail, berlin)
    berlin_times = agenda_times(other, rmail, uid)
    assert berlin_times == ["15:00", "14:00", "14:00", "14:00", "15:00", "15:00"]
    week = "/webmail/calendar/week?date=2026-03-09"
    go(other, rmail, week)
    hour = other.locator(f'.cal-event[data-uid="{uid}"]').first.locator(
        "xpath=ancestor::tr[1]").get_attribute("data-hour")
    assert hour == "14"
    assert re.match(r".*\+01:00$", str(shown(other, uid)[0]["data-start"]))
    home = CalendarStore(rmail.mail_root).home("example.com", berlin.split("@")[0])
    assert home.find_uid(uid) is not None
    # the Berlin user answers from the invitation in the mail view (the same route)
    go(other, rmail, "/webmail/INBOX")
    click(other, "tr.message-row a.message-link",
                      has_text="Invitation: Transatlantic")
    click(other, "form.rsvp-form button.action-accept")
    assert other.locator(".rsvp-form").get_attribute("data-partstat") == "ACCEPTED"
    go(page, rmail, "/webmail/calendar/day?date=2026-03-02")
    click(page, f'.cal-event[data-uid="{uid}"]')
    page.locator(f'.attendee[data-address="{berlin}"][data-partstat="ACCEPTED"]').wait_for()
