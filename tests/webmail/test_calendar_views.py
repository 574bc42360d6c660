"""The calendar views over HTTP (the webmail's browser-like client): month/week/day/agenda
markup, navigation, time zones, week start, visibility persisted in preferences.json."""

from __future__ import annotations

import json

from tests.webmail.calhelp import csrf_of, elements, events_shown, ics, put


async def test_every_view_draws_the_manuals_selectors(browser) -> None:
    await browser.login("alice")
    services = browser.services
    put(services, "alice", "single", ics("single", "20261208T090000Z", "20261208T100000Z",
                                         "Dentist"))
    put(services, "alice", "weekly", ics("weekly", "20261201T120000Z", "20261201T130000Z",
                                         "Lunch", "RRULE:FREQ=WEEKLY;COUNT=10"))
    put(services, "alice", "trip", ics("trip", "20261230", "20270102", "Trip").replace(
        b"DTSTART:20261230", b"DTSTART;VALUE=DATE:20261230").replace(
        b"DTEND:20270102", b"DTEND;VALUE=DATE:20270102"))
    r = await browser.get("/webmail/calendar?date=2026-12-15")
    assert r.status == 200
    assert elements(r.text, "cal-grid month", "table")
    shown = events_shown(r.text)
    assert ("single", "default", "2026-12-08T09:00:00+00:00") in shown
    assert sum(1 for uid, _, _ in shown if uid == "weekly") == 5  # 1, 8, 15, 22, 29 Dec
    assert sum(1 for uid, _, _ in shown if uid == "trip") == 3    # 30, 31 Dec, 1 Jan
    for cls in ("cal-prev", "cal-next", "cal-today"):
        (link,) = elements(r.text, cls, "a")
        assert link["href"].startswith("http://")
    assert "date=2026-11-01" in elements(r.text, "cal-prev", "a")[0]["href"]
    rows = elements(r.text, "cal-row")
    assert {(a["data-calendar"], a["data-visible"]) for a in rows} >= {("default", "true"),
                                                                         ("Schedule-Inbox",
                                                                          "true")}
    # the month starts on Monday 30 November
    days = [a["data-date"] for a in elements(r.text, "cal-day", "td")]
    assert days[0] == "2026-11-30" and len(days) % 7 == 0

    r = await browser.get("/webmail/calendar/week?date=2026-12-08")
    assert elements(r.text, "cal-grid week", "table")
    assert {uid for uid, _, _ in events_shown(r.text)} == {"single", "weekly"}
    r = await browser.get("/webmail/calendar/day?date=2026-12-31")
    assert elements(r.text, "cal-grid day", "table")
    assert [uid for uid, _, _ in events_shown(r.text)] == ["trip"]
    r = await browser.get("/webmail/calendar/agenda?date=2026-12-20")
    assert elements(r.text, "agenda-list", "ol")
    agenda = [uid for uid, _, _ in events_shown(r.text)]
    assert agenda.count("weekly") == 4 and agenda.count("trip") == 3  # 22, 29 Dec, 5, 12 Jan
    for view in ("month", "week", "day", "agenda"):
        r = await browser.get(f"/webmail/calendar/{view}")
        assert r.status == 200, view


async def test_today_line_and_bad_dates(browser) -> None:
    await browser.login("alice")
    r = await browser.get("/webmail/calendar/week")
    assert elements(r.text, "cal-now-line")
    r = await browser.get("/webmail/calendar/day?date=2001-01-01")
    assert not elements(r.text, "cal-now-line")
    for bad in ("2026-13-01", "yesterday", "1850-01-01", "2026-02-30"):
        r = await browser.get(f"/webmail/calendar/month?date={bad}")
        assert r.status == 400 and "form-error" in r.text
    assert (await browser.get("/webmail/calendar/year")).status == 404


async def test_time_zone_and_week_start_from_preferences(browser) -> None:
    await browser.login("alice")
    services = browser.services
    # 14:00 UTC on 2 March 2026 is 09:00 in New York and 15:00 in Berlin
    put(services, "alice", "call", ics("call", "20260302T140000Z", "20260302T150000Z", "Call"))
    services.preferences.update("example.com", "alice",
                                lambda d: d.update(timezone="America/New_York"))
    r = await browser.get("/webmail/calendar/day?date=2026-03-02")
    ((uid, _, start),) = events_shown(r.text)
    assert uid == "call"
    assert start == "2026-03-02T09:00:00-05:00"
    services.preferences.update("example.com", "alice",
                                lambda d: d.update(timezone="Europe/Berlin", week_start="sunday"))
    r = await browser.get("/webmail/calendar/day?date=2026-03-02")
    assert events_shown(r.text)[0][2] == "2026-03-02T15:00:00+01:00"
    r = await browser.get("/webmail/calendar/week?date=2026-03-04")
    heads = [a["data-date"] for a in elements(r.text, "cal-day-head", "th")]
    assert heads[0] == "2026-03-01" and len(heads) == 7  # a Sunday


async def test_visibility_is_persisted_and_hides_events(browser) -> None:
    await browser.login("alice")
    services = browser.services
    put(services, "alice", "ev", ics("ev", "20261208T090000Z", "20261208T100000Z"))
    page = await browser.get("/webmail/calendar?date=2026-12-08")
    token = csrf_of(page.text)
    r = await browser.post("/webmail/calendar/visibility",
                           data={"csrf": token, "calendar": "default",
                                 "return": "/webmail/calendar/month?date=2026-12-08"})
    assert r.status == 303 and r.headers["Location"].endswith("/webmail/calendar/month?"
                                                              "date=2026-12-08")
    prefs = json.loads((services.config.mail_root / "domains/example.com/users/alice/"
                        "preferences.json").read_text())
    assert prefs["calendar_visible"] == {"default": False}
    r = await browser.get("/webmail/calendar?date=2026-12-08")
    assert events_shown(r.text) == []
    (row,) = [a for a in elements(r.text, "cal-row") if a["data-calendar"] == "default"]
    assert row["data-visible"] == "false"
    # flipped back; an open redirect is refused; unknown calendar 404; no token 403
    r = await browser.post("/webmail/calendar/visibility",
                           data={"csrf": token, "calendar": "default",
                                 "return": "https://evil.example/"})
    assert r.status == 303 and "evil" not in r.headers["Location"]
    assert [uid for uid, _, _ in events_shown(
        (await browser.get("/webmail/calendar?date=2026-12-08")).text)] == ["ev"]
    r = await browser.post("/webmail/calendar/visibility", data={"csrf": token,
                                                                 "calendar": "../x"})
    assert r.status == 404
    r = await browser.post("/webmail/calendar/visibility", data={"calendar": "default"})
    assert r.status == 403


async def test_colors_stylesheet_and_login_required(browser) -> None:
    r = await browser.get("/webmail/calendar")
    assert r.status == 303 and "/webmail/login" in r.headers["Location"]
    await browser.login("alice")
    r = await browser.get("/webmail/calendar/colors.css")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/css")
    assert '[data-calendar="default"] { --cal-color: #3a87ad; }' in r.text
    assert '[data-calendar="Schedule\\2d Inbox"]' not in r.text  # '-' needs no escape
    assert '[data-calendar="Schedule-Inbox"]' in r.text
