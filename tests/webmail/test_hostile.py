"""Malformed input, oversize bodies, traversal, wrong credentials and concurrent writers
against the webmail routes."""

from __future__ import annotations

import asyncio
import io

from tests.webmail.conftest import DOMAIN, Browser
from tests.webmail.test_list import fill


async def test_oversize_and_malformed(browser: Browser) -> None:
    page = await browser.follow(await browser.login())
    csrf = page.form("bulk-actions")["fields"]["csrf"]
    big = f"csrf={csrf}&action=mark-read&msg=INBOX%2F1&pad=" + "x" * (2 << 20)
    r = await browser.post("/webmail/bulk", data=io.BytesIO(big.encode()),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 413
    for value in ("INBOX", "INBOX/abc", "INBOX/-1", "INBOX/99999999999", "/1", "../../x/1"):
        r = await browser.post("/webmail/bulk", data={"csrf": csrf, "action": "star",
                                                      "msg": value})
        assert r.status in (400, 404), value
    r = await browser.post("/webmail/bulk", data={"csrf": csrf, "action": "explode",
                                                  "msg": "INBOX/1"})
    assert r.status == 400
    r = await browser.post("/webmail/login", data=b"\xff\xfe\x00garbage",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status in (400, 403)


async def test_traversal_and_unknown_paths(browser: Browser) -> None:
    await browser.login()
    for path in ("/webmail/message/..%2F..%2Fetc/1", "/webmail/%2e%2e/%2e%2e/etc/passwd",
                 "/webmail/message/INBOX/0", "/webmail/message/INBOX/1/part/0",
                 "/webmail/message/INBOX/1/part/0/view",
                 "/webmail/static/..%2Fcontext.py", "/webmail/static/style.css%00"):
        r = await browser.get(path)
        assert r.status in (400, 404), (path, r.status)
        assert str(browser.config.mail_root) not in r.text


async def test_wrong_credentials(browser: Browser) -> None:
    for headers in ({"Authorization": "Basic YWxpY2U6d3Jvbmc="}, {"Authorization": "Bearer x"},
                    {"Cookie": "rmail_session=forged-session-id-forged-session-id"},
                    {"Cookie": "rmail_session=" + "a" * 5000}):
        r = await browser.get("/webmail/INBOX", headers=headers)
        assert r.status in (303, 400), headers
        if r.status == 303:
            assert "/webmail/login" in r.headers["Location"]
    # a JSON API token is not a webmail session
    api = await browser.post("/auth/login", json={"username": "alice",
                                                  "password": "alice-password"})
    token = (await browser.session.post(browser.base + "/auth/login", json={
        "username": "alice", "password": "alice-password"})).status
    assert api.status == 200 and token == 200
    r = await browser.get("/webmail/INBOX", headers={"Authorization": "Bearer " + "x"})
    assert r.status == 303


async def test_concurrent_bulk_writers(browser: Browser) -> None:
    fill(browser, 40)
    page = await browser.follow(await browser.login())
    csrf = page.form("bulk-actions")["fields"]["csrf"]
    inbox = browser.services.mail.mailbox(DOMAIN, "alice").folder("INBOX")

    async def act(action: str, uids: range, target: str = "") -> int:
        data = [("csrf", csrf), ("action", action), ("target", target),
                *(("msg", f"INBOX/{u}") for u in uids)]
        return (await browser.post("/webmail/bulk", data=data)).status

    statuses = await asyncio.gather(act("star", range(1, 41)), act("mark-read", range(1, 41)),
                                    act("move", range(1, 21), "Archive"),
                                    act("delete", range(21, 31)))
    assert all(s in (303, 404) for s in statuses), statuses
    remaining = inbox.uids()
    for uid in remaining:
        flags = inbox.record(uid).flags
        assert "\\Flagged" in flags and "\\Seen" in flags
    moved = browser.services.mail.mailbox(DOMAIN, "alice")
    total = (len(remaining) + moved.folder("Archive").status().count
             + moved.folder("Trash").status().count)
    assert total == 40  # nothing lost, nothing doubled


async def test_unknown_pages_are_html_404(browser: Browser) -> None:
    await browser.login()
    for path in ("/webmail/settings/nonsense", "/webmail/compose/x/y", "/webmail/message",
                 "/webmail/static/nope.css"):
        r = await browser.get(path)
        assert r.status == 404, path
        if "/static/" not in path:
            assert r.headers["Content-Type"].startswith("text/html")
            assert r.has('class="form-error"') and r.has('class="sidebar"')
