"""Search, settings (profile, time zone, password, folders), registration, the event stream
and the documentation pages."""

from __future__ import annotations

import asyncio
import json

from rmail.auth.policy import check_new_password
from tests.webmail.conftest import DOMAIN, Browser, MakeBrowser, message
from tests.webmail.test_list import with_class


async def test_search_folder_and_all(browser: Browser) -> None:
    mb = browser.services.mail.mailbox(DOMAIN, "alice")
    mb.folder("INBOX").append(message(1, subject="Quarterly budget"))
    mb.folder("INBOX").append(message(2, subject="Lunch"))
    mb.folder("Archive").append(message(3, subject="Old budget notes"))
    await browser.login()
    page = await browser.get("/webmail/INBOX")
    form = page.form("search-form")
    assert form["method"] == "get" and form["action"] == browser.base + "/webmail/search"
    r = await browser.get("/webmail/search?q=BUDGET&scope=folder&folder=INBOX")
    rows = with_class(r.text, "tr", "message-row")
    assert [(x["data-folder"], x["data-uid"]) for x in rows] == [("INBOX", "1")]
    (section,) = with_class(r.text, "section", "message-list")
    assert section["data-total"] == "1"
    r = await browser.get("/webmail/search?q=budget&scope=all")
    rows = with_class(r.text, "tr", "message-row")
    assert sorted((x["data-folder"], x["data-uid"]) for x in rows) == [("Archive", "1"),
                                                                       ("INBOX", "1")]
    r = await browser.get("/webmail/search?q=nothing-like-this&scope=all")
    assert not with_class(r.text, "tr", "message-row") and r.status == 200


async def test_profile_and_timezone(browser: Browser) -> None:
    await browser.login()
    page = await browser.get("/webmail/settings")
    r = await browser.submit(page, "settings-profile", display_name="Alice A.",
                             timezone="Europe/Amsterdam")
    assert r.status == 303
    assert browser.services.accounts.get(DOMAIN, "alice").display_name == "Alice A."
    prefs = browser.services.preferences.get(DOMAIN, "alice")
    assert prefs["timezone"] == "Europe/Amsterdam"
    r = await browser.submit(page, "settings-profile", display_name="x", timezone="Mars/Base")
    assert r.status == 400 and r.has('class="form-error"')
    browser.services.mail.mailbox(DOMAIN, "alice").folder("INBOX").append(message(5))
    lst = await browser.get("/webmail/INBOX")
    assert 'datetime="2026-12-05T11:05:00+01:00"' in lst.text  # shown in the user's zone


async def test_week_start_in_settings_reaches_the_calendar(browser: Browser) -> None:
    await browser.login()
    page = await browser.get("/webmail/settings")
    assert '<option value="monday" selected>' in page.text  # the default
    r = await browser.submit(page, "settings-profile", display_name="Alice", timezone="UTC",
                             week_start="sunday")
    assert r.status == 303
    assert browser.services.preferences.get(DOMAIN, "alice")["week_start"] == "sunday"
    week = await browser.get("/webmail/calendar/week?date=2026-12-09")  # a Wednesday
    assert 'data-first="2026-12-06" data-last="2026-12-12"' in week.text  # Sunday to Saturday
    again = await browser.get("/webmail/settings")
    assert '<option value="sunday" selected>' in again.text
    r = await browser.submit(again, "settings-profile", display_name="Alice", timezone="UTC",
                             week_start="someday")
    assert r.status == 400 and r.has('class="form-error"')


async def test_password_change(browser: Browser, make_browser: MakeBrowser) -> None:
    other = await make_browser(share=browser)
    await other.login()
    await browser.login()
    page = await browser.get("/webmail/settings")
    r = await browser.submit(page, "settings-password", current_password="wrong",
                             new_password="a much better secret", confirm_password="a much "
                             "better secret")
    assert r.status == 401 and r.has('class="form-error"')
    r = await browser.submit(page, "settings-password", current_password="alice-password",
                             new_password="password123", confirm_password="password123")
    assert r.status == 400 and r.has("common")
    r = await browser.submit(page, "settings-password", current_password="alice-password",
                             new_password="a much better secret",
                             confirm_password="a much better secret")
    assert r.status == 303
    assert (await browser.get("/webmail/INBOX")).status == 200  # this browser stays in
    assert (await other.get("/webmail/INBOX")).status == 303   # every other session ended
    assert (await other.login(password="a much better secret")).status == 303


async def test_folder_management(browser: Browser) -> None:
    mb = browser.services.mail.mailbox(DOMAIN, "alice")
    await browser.login()
    page = await browser.get("/webmail/settings")
    r = await browser.submit(page, "settings-folder-create", name="Projects", parent="")
    assert r.status == 303 and "Projects" in [e.name for e in mb.entries()]
    r = await browser.submit(page, "settings-folder-create", name="Alpha", parent="Projects")
    assert "Projects/Alpha" in [e.name for e in mb.entries()]
    page = await browser.get("/webmail/settings")
    forms = [f for f in page.forms() if "settings-folder-rename" in f["class"]
             and f["fields"].get("name") == "Projects"]
    r = await browser.post(forms[0]["action"], data={**forms[0]["fields"],
                                                     "new_name": "Work"})
    assert r.status == 303 and "Work/Alpha" in [e.name for e in mb.entries()]
    csrf = forms[0]["fields"]["csrf"]
    r = await browser.post("/webmail/settings/folders/delete",
                           data={"csrf": csrf, "name": "Work/Alpha"})
    assert r.status == 400 and "Work/Alpha" in [e.name for e in mb.entries()]
    r = await browser.post("/webmail/settings/folders/delete",
                           data={"csrf": csrf, "name": "Work/Alpha", "confirm": "yes"})
    assert r.status == 303 and "Work/Alpha" not in [e.name for e in mb.entries()]
    r = await browser.post("/webmail/settings/folders/subscribe",
                           data={"csrf": csrf, "name": "Work", "subscribed": "0"})
    assert r.status == 303 and "Work" not in mb.subscriptions()
    r = await browser.post("/webmail/settings/folders/create",
                           data={"csrf": csrf, "name": "INBOX"})
    assert r.status == 400 and r.has('class="form-error"')


async def test_registration_disabled_is_404(browser: Browser) -> None:
    assert (await browser.get("/webmail/register")).status == 404
    assert "/webmail/register" not in (await browser.get("/webmail/login")).text


async def test_registration(make_browser: MakeBrowser) -> None:
    b = await make_browser(webmail={"registration": {"enabled": True, "domains": [DOMAIN],
                                                     "per_ip_per_hour": 2}},
                           security={"trusted_networks": []})
    login = await b.get("/webmail/login")
    assert "/webmail/register" in login.text
    page = await b.get("/webmail/register")
    form = page.form("register-form")
    assert form["action"] == b.base + "/webmail/register"

    async def attempt(username: str, password: str, confirm: str | None = None) -> object:
        return await b.post(form["action"], data={
            **form["fields"], "username": username, "domain": DOMAIN, "password": password,
            "password_confirm": password if confirm is None else confirm})

    for name, pw, needle in (("postmaster", "a long good secret", "reserved"),
                             ("alice", "a long good secret", "taken"),
                             ("carol", "short", "at least"),
                             ("carol", "qwertyuiop", "common"),
                             ("carol", "a long good secret x", "match"),
                             ("../x", "a long good secret", "letters")):
        r = await attempt(name, pw, "other" if needle == "match" else None)
        assert r.status in (400, 409), (name, r.status)
        assert r.has('class="form-error"') and needle in r.text.lower(), (name, needle)
        assert r.has(f'value="{name}"') or name == "../x"
    r = await attempt("carol", "a long good secret")
    assert r.status == 303
    assert b.services.accounts.get(DOMAIN, "carol").quota_mb == b.config.quota_mb_default
    inbox = await b.follow(r)
    assert inbox.has('<span class="current-user"[^>]*>carol@example.com</span>')
    assert "Drafts" in inbox.text  # the default folders
    other = await make_browser(share=b)
    page = await other.get("/webmail/register")
    form = page.form("register-form")
    r = await other.post(form["action"], data={**form["fields"], "username": "dave",
                                               "domain": DOMAIN, "password": "x y z long pass",
                                               "password_confirm": "x y z long pass"})
    assert r.status == 303
    third = await make_browser(share=b)
    page = await third.get("/webmail/register")
    form = page.form("register-form")
    r = await third.post(form["action"], data={**form["fields"], "username": "erin",
                                               "domain": DOMAIN, "password": "x y z long pass",
                                               "password_confirm": "x y z long pass"})
    assert r.status == 429 and "Retry-After" in r.headers  # 2 per address per hour


def test_password_policy() -> None:
    import pytest

    from rmail.store.errors import InvalidValue

    check_new_password("correct horse battery", min_length=10, username="alice")
    for bad in ("short", "aaaaaaaaaaaa", "1234567890123", "abcdefghijkl", "alice-alice!",
                "Password123"):
        with pytest.raises(InvalidValue):
            check_new_password(bad, min_length=10, username="alice")


async def test_webmail_session_follows_the_update_stream(browser: Browser) -> None:
    """The webmail's pages follow `/users/me/updates` with their session cookie (app.js); a
    logout (here through the webmail's form) ends that stream at once."""
    inbox_page = await browser.follow(await browser.login())
    async with browser.session.get(browser.base + "/users/me/updates") as r:
        assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream"

        async def next_event() -> dict[str, object] | None:
            data = b""
            while not data.endswith(b"\n\n") or b"data:" not in data:
                line = await r.content.readuntil(b"\n") if not r.content.at_eof() else b""
                if not line:
                    return None
                data += line
            line = next(x for x in data.split(b"\n") if x.startswith(b"data:"))
            return json.loads(line[5:])

        mb = browser.services.mail.mailbox(DOMAIN, "alice")
        uid = (await asyncio.to_thread(mb.folder("INBOX").append, message(9))).uid
        event = await asyncio.wait_for(next_event(), 30)
        assert event is not None
        assert event["command"] == "EXISTS" and event["uid"] == uid and event["flags"] == []
        assert event["mailbox"] == mb.folder("INBOX").mailbox_id()
        assert f'data-mailbox="{event["mailbox"]}"' in inbox_page.text  # app.js matches on it
        await browser.submit(inbox_page, "logout-form")
        assert await asyncio.wait_for(r.content.read(), 30) == b""  # ended, nothing more
    async with browser.session.get(browser.base + "/users/me/updates") as r:
        assert r.status == 401
    assert (await browser.get("/webmail/events")).status == 404  # one stream, not two


async def test_docs_pages(browser: Browser) -> None:
    index = await browser.get("/docs/index")
    for name in ("webmail", "drive", "caldav"):
        assert f'href="/docs/{name}"' in index.text
        page = await browser.get(f"/docs/{name}")
        assert page.status == 200 and "<h1" in page.text


async def test_search_opening_text(browser: Browser) -> None:
    inbox = browser.services.mail.mailbox(DOMAIN, "alice").folder("INBOX")
    inbox.append(message(1, subject="lunch", body="bring a pineapple"))
    inbox.append(message(2, subject="other", body="nothing here"))
    await browser.login()
    r = await browser.get("/webmail/search?q=Pineapple+bring&scope=folder&folder=INBOX")
    assert [x["data-uid"] for x in with_class(r.text, "tr", "message-row")] == ["1"]
