"""Events through the calendar pages: create (with an invitation to a local attendee through
the delivery pipeline), detail, edit one occurrence or the series, ETag conflicts with a
CalDAV-style writer, RSVP with a REPLY to the organizer, delete with a CANCEL."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
from urllib.parse import quote, urlencode

from rmail.ical import itip
from rmail.ical.parse import parse_object
from rmail.scheduling.events import load
from tests.webmail.calhelp import csrf_of, elements, events_shown, home_of, ics, put

FORM = {"summary": "Weekly sync", "calendar": "default", "start": "2026-12-07T10:00",
        "end": "2026-12-07T11:00", "timezone": "Europe/Berlin", "rrule": "weekly",
        "byday": ["MO", "WE"], "ends": "count", "count": "6",
        "attendees": "bob@example.com", "alarm": "10", "location": "Room 4",
        "description": "Agenda first"}


def subjects(services, user: str) -> list[str]:
    folder = services.mail.mailbox("example.com", user).folder("INBOX")
    return [str(email.message_from_bytes(folder.read_message(u),
                                         policy=email.policy.default)["Subject"])
            for u in folder.uids()]


async def create(browser, **changes) -> tuple[str, str]:
    page = await browser.get("/webmail/calendar/event/new?date=2026-12-07")
    assert page.status == 200 and elements(page.text, "event-form", "form")
    data = dict(FORM, **changes)
    data["csrf"] = csrf_of(page.text)
    r = await browser.post("/webmail/calendar/event/new", data=list(_pairs(data)))
    assert r.status == 303, r.text[:2000]
    location = r.headers["Location"]
    uid = location.split("/event/default/")[1].split("?")[0]
    return uid, location


def _pairs(data: dict):
    for key, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            yield key, item


async def test_create_invite_answer_and_cancel(make_browser) -> None:
    alice = await make_browser()
    bob = await make_browser(share=alice)
    services = alice.services
    await alice.login("alice")
    await bob.login("bob")
    home_of(services, "bob")
    uid, location = await create(alice)
    detail = await alice.get(location)
    (article,) = elements(detail.text, "event-detail")
    assert article["data-uid"] == uid and article["data-calendar"] == "default"
    assert "Every week on Monday and Wednesday, 6 times" in detail.text or \
        "Weekly on Monday and Wednesday, 6 times" in detail.text
    assert "Room 4" in detail.text and "Mail sent to 1 recipient" in detail.text
    (attendee,) = elements(detail.text, "attendee")
    assert attendee["data-address"] == "bob@example.com"
    assert attendee["data-partstat"] == "NEEDS-ACTION"
    # bob got the invitation in his inbox and in his calendar
    assert any(s.startswith("Invitation: Weekly sync") for s in subjects(services, "bob"))
    month = await bob.get("/webmail/calendar?date=2026-12-07")
    assert (uid, "Schedule-Inbox") in {(u, c) for u, c, _ in events_shown(month.text)}
    # bob accepts from his event page: alice's copy says ACCEPTED
    page = await bob.get(f"/webmail/calendar/event/Schedule-Inbox/{quote(uid)}")
    assert elements(page.text, "rsvp-form", "form")
    r = await bob.post(f"/webmail/calendar/event/Schedule-Inbox/{quote(uid)}/respond",
                       data={"csrf": csrf_of(page.text), "response": "ACCEPTED"})
    assert r.status == 303
    _, _, obj = load(home_of(services, "alice"), "default", uid)
    assert itip.attendees_of(obj.master)["bob@example.com"].params["PARTSTAT"] == "ACCEPTED"
    detail = await alice.get(location)
    assert elements(detail.text, "attendee")[0]["data-partstat"] == "ACCEPTED"
    assert any(s.startswith("Accepted") for s in subjects(services, "alice"))
    bad = await bob.post(f"/webmail/calendar/event/Schedule-Inbox/{quote(uid)}/respond",
                         data={"csrf": csrf_of(page.text), "response": "MAYBE"})
    assert bad.status == 400
    # alice deletes the series: bob gets a CANCEL, his copy is marked cancelled
    detail = await alice.get(location)
    etag = elements(detail.text, "event-detail")[0]["data-etag"]
    r = await alice.post(f"/webmail/calendar/event/default/{quote(uid)}/delete",
                         data={"csrf": csrf_of(detail.text), "etag": etag, "scope": "series"})
    assert r.status == 303
    assert (await alice.get(location)).status == 404
    _, _, copy = load(home_of(services, "bob"), "Schedule-Inbox", uid)
    assert str(copy.master["STATUS"]) == "CANCELLED"
    assert any(s.startswith("Cancelled") for s in subjects(services, "bob"))


async def test_edit_one_occurrence_then_the_series(browser) -> None:
    await browser.login("alice")
    uid, _ = await create(browser, attendees="")
    month = await browser.get("/webmail/calendar?date=2026-12-07")
    rids = [a["data-rid"] for a in elements(month.text, "cal-event") if a["data-uid"] == uid]
    assert len(rids) == 6
    path = f"/webmail/calendar/event/default/{quote(uid)}/edit"
    form = await browser.get(f"{path}?rid={rids[1]}")
    assert 'value="2026-12-09T10:00"' in form.text  # that occurrence's own start
    values = browser_form(form.text)
    values.update(summary="Moved once", start="2026-12-09T15:00", end="2026-12-09T16:00",
                  scope="occurrence")
    r = await browser.post(path, data=list(_pairs(values)))
    assert r.status == 303, r.text[:1500]
    month = await browser.get("/webmail/calendar?date=2026-12-07")
    assert sum(1 for u, _, _ in events_shown(month.text) if u == uid) == 6
    assert "Moved once" in month.text
    _, _, obj = load(home_of(browser.services, "alice"), "default", uid)
    assert len(obj.components) == 2
    # the series: a new title for all; the override stays (same start and rule)
    form = await browser.get(path)
    values = browser_form(form.text)
    values.update(summary="Renamed series")
    r = await browser.post(path, data=list(_pairs(values)))
    assert r.status == 303
    month = await browser.get("/webmail/calendar?date=2026-12-07")
    assert month.text.count("Renamed series") >= 5 and "Moved once" in month.text


def browser_form(text: str) -> dict:
    """Every named field of form.event-form with its current value (as a browser sends it)."""
    import re
    from html import unescape

    start = text.index('class="event-form"')
    body = text[start:text.index("</form>", start)]
    values: dict = {}
    for tag in re.finditer(r"<(input|select|textarea)\b([^>]*)>", body):
        attrs = dict((k, unescape(v)) for k, v in re.findall(r'(\w[\w-]*)="([^"]*)"',
                                                             tag.group(2)))
        name = attrs.get("name")
        if not name:
            continue
        if tag.group(1) == "input":
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if " checked" in tag.group(2):
                    if name == "byday":
                        values.setdefault(name, []).append(attrs.get("value", "on"))
                    else:
                        values[name] = attrs.get("value", "on")
                continue
            values[name] = attrs.get("value", "")
        elif tag.group(1) == "select":
            rest = body[tag.end():body.index("</select>", tag.end())]
            chosen = re.search(r'<option value="([^"]*)" selected', rest)
            values[name] = unescape(chosen.group(1)) if chosen else ""
        else:
            values[name] = unescape(body[tag.end():body.index("</textarea>", tag.end())])
    return values


async def test_a_caldav_change_meanwhile_is_not_overwritten(browser) -> None:
    await browser.login("alice")
    services = browser.services
    put(services, "alice", "shared", ics("shared", "20261210T090000Z", "20261210T100000Z",
                                         "Original"))
    path = "/webmail/calendar/event/default/shared/edit"
    form = await browser.get(path)
    values = browser_form(form.text)
    # a CalDAV client changes the event while the form is open
    put(services, "alice", "shared", ics("shared", "20261210T090000Z", "20261210T100000Z",
                                         "Changed by Thunderbird"))
    values["summary"] = "Changed in the browser"
    r = await browser.post(path, data=list(_pairs(values)))
    assert r.status == 409
    assert "changed elsewhere" in r.text and "form-error" in r.text
    _, _, obj = load(home_of(services, "alice"), "default", "shared")
    assert str(obj.master["SUMMARY"]) == "Changed by Thunderbird"
    # deleting with the stale ETag is refused too
    r = await browser.post("/webmail/calendar/event/default/shared/delete",
                           data={"csrf": values["csrf"], "etag": values["etag"]})
    assert r.status == 409


async def test_concurrent_saves_of_one_form_one_wins(browser) -> None:
    await browser.login("alice")
    put(browser.services, "alice", "race", ics("race", "20261210T090000Z",
                                               "20261210T100000Z", "Race"))
    path = "/webmail/calendar/event/default/race/edit"
    values = browser_form((await browser.get(path)).text)
    replies = await asyncio.gather(*[
        browser.post(path, data=list(_pairs(dict(values, summary=f"Writer {i}"))))
        for i in range(4)])
    assert sorted(r.status for r in replies) == [303, 409, 409, 409]


async def test_form_errors_are_shown_with_the_input(browser) -> None:
    await browser.login("alice")
    page = await browser.get("/webmail/calendar/event/new")
    token = csrf_of(page.text)
    for field, value, words in (("start", "not-a-time", "start"),
                                ("end", "2026-12-07T08:00", "ends before"),
                                ("attendees", "bob@", "not an e-mail"),
                                ("timezone", "Mars/Base", "time zone"),
                                ("calendar", "../../etc", "calendar")):
        data = dict(FORM, csrf=token, attendees="")
        data[field] = value
        r = await browser.post("/webmail/calendar/event/new", data=list(_pairs(data)))
        assert r.status == 400 and words in r.text, (field, r.text[:300])
        assert "form-error" in r.text and 'value="Weekly sync"' in r.text
    r = await browser.post("/webmail/calendar/event/new", data=list(_pairs(FORM)))
    assert r.status == 403  # no CSRF token
    oversize = urlencode(dict(FORM, csrf=token, description="x" * (2 * 1024 * 1024)),
                         doseq=True).encode()
    r = await browser.post("/webmail/calendar/event/new", data=io.BytesIO(oversize),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 413


async def test_unknown_and_hostile_event_paths(browser, make_browser) -> None:
    await browser.login("alice")
    for path in ("/webmail/calendar/event/default/nope",
                 "/webmail/calendar/event/nocal/x",
                 "/webmail/calendar/event/..%2f..%2fx/y",
                 "/webmail/calendar/event/.home.lock/x",
                 "/webmail/calendar/event/default/..%2f..%2faccount.json"):
        r = await browser.get(path)
        assert r.status in (400, 404), (path, r.status)
    # bob cannot reach alice's events: his own (empty) home is asked
    bob_browser = await make_browser(share=browser)
    put(browser.services, "alice", "private", ics("private", "20261210T090000Z"))
    await bob_browser.login("bob")
    r = await bob_browser.get("/webmail/calendar/event/default/private")
    assert r.status == 404


async def test_detail_of_an_occurrence_and_all_day_event(browser) -> None:
    await browser.login("alice")
    services = browser.services
    put(services, "alice", "holiday", ics("holiday", "20261224", "20261227", "Holidays")
        .replace(b"DTSTART:20261224", b"DTSTART;VALUE=DATE:20261224")
        .replace(b"DTEND:20261227", b"DTEND;VALUE=DATE:20261227"))
    r = await browser.get("/webmail/calendar/event/default/holiday")
    assert "Thu 24 Dec 2026 – Sat 26 Dec 2026, all day" in r.text
    assert parse_object(ics("x", "20261201T100000Z")).uid == "x"


async def test_respond_finds_the_invitation_wherever_it_is(browser) -> None:
    """The mail view's buttons name the calendar they found; when the event moved since,
    the answer still reaches the calendar that holds the UID."""
    await browser.login("bob")
    invitation = ics("inv-1", "20261214T090000Z", "20261214T100000Z", "Review",
                     "ORGANIZER:mailto:alice@example.com\n"
                     "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.com")
    put(browser.services, "bob", "inv-1", invitation, calendar="Schedule-Inbox")
    page = await browser.get("/webmail/calendar")
    r = await browser.post("/webmail/calendar/event/default/inv-1/respond",
                           data={"csrf": csrf_of(page.text), "response": "TENTATIVE",
                                 "return": "/webmail/INBOX"})
    assert r.status == 303 and r.headers["Location"].endswith("/webmail/INBOX")
    _, _, obj = load(home_of(browser.services, "bob"), "Schedule-Inbox", "inv-1")
    assert itip.attendees_of(obj.master)["bob@example.com"].params["PARTSTAT"] == "TENTATIVE"
    r = await browser.post("/webmail/calendar/event/default/nope/respond",
                           data={"csrf": csrf_of(page.text), "response": "ACCEPTED"})
    assert r.status == 404
