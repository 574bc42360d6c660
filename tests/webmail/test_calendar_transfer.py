"""Import (raw text/calendar with X-CSRF-Token, and the upload form) and export through the
calendar pages; calendars created, renamed, recoloured and deleted."""

from __future__ import annotations

import io
from pathlib import Path

import aiohttp
import pytest

from rmail.ical.parse import parse_calendar
from tests.webmail.calhelp import csrf_of, elements, events_shown, home_of


def _fixtures() -> Path:
    beside = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
    team = Path("/work/shared/fixtures")
    return beside if beside.is_dir() or not team.is_dir() else team


ICAL = sorted((_fixtures() / "ical").glob("*.ics"))
GOOD = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:PUBLISH\r\n"
        b"BEGIN:VEVENT\r\nUID:imp-1\r\nDTSTART:20261211T090000Z\r\nSUMMARY:One\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:imp-2\r\nDTSTART:20261212T090000Z\r\nSUMMARY:Two\r\nEND:VEVENT\r\n"
        b"END:VCALENDAR\r\n")


async def raw_import(browser, body: bytes, token: str | None, calendar: str | None = None):
    headers = {"Content-Type": "text/calendar"}
    if token is not None:
        headers["X-CSRF-Token"] = token
    path = "/webmail/calendar/import" + (f"?calendar={calendar}" if calendar else "")
    return await browser.post(path, data=io.BytesIO(body), headers=headers)


async def test_raw_import_all_or_nothing(browser) -> None:
    await browser.login("alice")
    token = csrf_of((await browser.get("/webmail/calendar")).text)
    r = await raw_import(browser, GOOD, None)
    assert r.status == 403
    r = await raw_import(browser, GOOD, "wrong-token")
    assert r.status == 403
    r = await raw_import(browser, GOOD, token)
    assert r.status == 200 and '"created":2' in r.text
    shown = events_shown((await browser.get("/webmail/calendar?date=2026-12-11")).text)
    assert {"imp-1", "imp-2"} <= {u for u, _, _ in shown}
    # again with one changed and one broken event: refused, naming the line, nothing changed
    broken = GOOD.replace(b"SUMMARY:One", b"SUMMARY:Changed").replace(
        b"DTSTART:20261212T090000Z", b"DTSTART:2026-12-12")
    r = await raw_import(browser, broken, token)
    assert r.status == 400 and '"line":12' in r.text
    month = (await browser.get("/webmail/calendar?date=2026-12-11")).text
    assert "Changed" not in month and "One" in month
    r = await raw_import(browser, GOOD.replace(b"SUMMARY:One", b"SUMMARY:Updated"), token)
    assert r.status == 200 and '"updated":2' in r.text
    r = await raw_import(browser, GOOD, token, calendar="missing")
    assert r.status == 404
    r = await raw_import(browser, GOOD, token, calendar="..%2F..%2Fx")
    assert r.status in (400, 404)
    r = await browser.post("/webmail/calendar/import", data=b"{}",
                           headers={"Content-Type": "application/json", "X-CSRF-Token": token})
    assert r.status == 415


async def test_oversize_import_413(browser) -> None:
    await browser.login("alice")
    token = csrf_of((await browser.get("/webmail/calendar")).text)
    body = GOOD.replace(b"SUMMARY:One", b"SUMMARY:" + b"x" * (21 * 1024 * 1024))
    r = await raw_import(browser, body, token)
    assert r.status == 413


@pytest.mark.skipif(not ICAL, reason="fixture folder ../shared/fixtures/ical absent")
async def test_every_fixture_is_imported_or_refused_with_a_message(browser) -> None:
    await browser.login("alice")
    services = browser.services
    token = csrf_of((await browser.get("/webmail/calendar")).text)
    outcomes = {}
    for i, path in enumerate(ICAL):
        calendar = f"fx{i}"
        home_of(services, "alice").create_calendar(calendar)
        r = await raw_import(browser, path.read_bytes(), token, calendar=calendar)
        assert r.status in (200, 400), (path.name, r.status, r.text[:300])
        outcomes[path.name] = r.status
        if r.status == 400:
            assert '"error":"line ' in r.text, (path.name, r.text)
    assert outcomes["date-vs-datetime_matrix_broken-end.ics"] == 400
    assert sum(1 for s in outcomes.values() if s == 200) >= len(ICAL) - 2
    # the views still draw every calendar (nothing imported crashes a page)
    for view in ("month", "week", "day", "agenda"):
        for date in ("2000-01-01", "2015-06-01", "2026-12-06"):
            r = await browser.get(f"/webmail/calendar/{view}?date={date}")
            assert r.status == 200, (view, date)


async def test_upload_form_and_export(browser) -> None:
    await browser.login("alice")
    page = await browser.get("/webmail/calendar/import")
    token = csrf_of(page.text)
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("calendar", "default")
    form.add_field("file", GOOD, filename="cal.ics", content_type="text/calendar")
    r = await browser.post("/webmail/calendar/import", data=form)
    assert r.status == 200 and elements(r.text, "import-result")[0]["data-created"] == "2"
    bad = aiohttp.FormData()
    bad.add_field("csrf", token)
    bad.add_field("file", b"BEGIN:VCALENDAR\r\nEND:VEVENT\r\n", filename="x.ics")
    r = await browser.post("/webmail/calendar/import", data=bad)
    assert r.status == 400 and "line 2" in r.text
    late = aiohttp.FormData()  # the token must be the first part
    late.add_field("file", GOOD, filename="cal.ics")
    late.add_field("csrf", token)
    assert (await browser.post("/webmail/calendar/import", data=late)).status == 403
    month = await browser.get("/webmail/calendar")
    (link,) = [a for a in elements(month.text, "action-export", "a")
               if a["href"].endswith("/export/default")]
    r = await browser.get(link["href"])
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/calendar")
    assert 'filename="default.ics"' in r.headers["Content-Disposition"]
    cal = parse_calendar(r.text.encode())
    assert {str(c["UID"]) for c in cal.walk("VEVENT")} == {"imp-1", "imp-2"}
    assert (await browser.get("/webmail/calendar/export/nope")).status == 404


async def test_calendars_create_rename_recolour_delete(browser) -> None:
    await browser.login("alice")
    page = await browser.get("/webmail/calendar/calendars")
    token = csrf_of(page.text)
    assert elements(page.text, "action-new-calendar")
    r = await browser.post("/webmail/calendar/calendars",
                           data={"csrf": token, "displayname": "Team Meetings",
                                 "color": "#ff8800"})
    assert r.status == 303
    home = home_of(browser.services, "alice")
    meta = home.get("team-meetings").meta()
    assert meta["displayname"] == "Team Meetings" and meta["color"] == "#ff8800ff"
    ctag = home.get("team-meetings").index().ctag
    r = await browser.post("/webmail/calendar/calendars/team-meetings",
                           data={"csrf": token, "displayname": "Team", "color": "#0000ff"})
    assert r.status == 303
    meta = home.get("team-meetings").meta()
    assert (meta["displayname"], meta["color"]) == ("Team", "#0000ffff")
    assert home.get("team-meetings").index().ctag > ctag  # CalDAV clients see the change
    css = (await browser.get("/webmail/calendar/colors.css")).text
    assert '[data-calendar="team-meetings"] { --cal-color: #0000ff; }' in css
    r = await browser.post("/webmail/calendar/calendars/team-meetings",
                           data={"csrf": token, "color": "red; background: url(x)"})
    assert r.status == 400
    r = await browser.post("/webmail/calendar/calendars", data={"csrf": token,
                                                                "displayname": ""})
    assert r.status == 400 and "form-error" in r.text
    r = await browser.post("/webmail/calendar/calendars/default/delete", data={"csrf": token})
    assert r.status == 400 and "default" in home.names()
    r = await browser.post("/webmail/calendar/calendars/team-meetings/delete",
                           data={"csrf": token})
    assert r.status == 303 and "team-meetings" not in home.names()
    r = await browser.post("/webmail/calendar/calendars/team-meetings/delete",
                           data={"csrf": token})
    assert r.status == 404
    r = await browser.post("/webmail/calendar/calendars/..%2f..%2fmail/delete",
                           data={"csrf": token})
    assert r.status in (400, 404)
    # the first day of the week
    r = await browser.post("/webmail/calendar/preferences",
                           data={"csrf": token, "week_start": "sunday"})
    assert r.status == 303
    assert browser.services.preferences.get("example.com", "alice")["week_start"] == "sunday"
    month = await browser.get("/webmail/calendar?date=2026-12-10")
    assert elements(month.text, "cal-day", "td")[0]["data-date"] == "2026-11-29"
    r = await browser.post("/webmail/calendar/preferences",
                           data={"csrf": token, "week_start": "funday"})
    assert r.status == 400
