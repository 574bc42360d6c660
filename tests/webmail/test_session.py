"""Login, logout, sessions on disk (expiry, restart, password change, disabled account),
lockout, CSRF refusal and the security headers, over real HTTP."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

from rmail.auth import hash_password
from rmail.server import Server
from rmail.services import build_services
from rmail.store.sessions import digest_of
from tests.webmail.conftest import DOMAIN, Browser, MakeBrowser


async def test_root_and_webmail_redirect(browser: Browser) -> None:
    r = await browser.get("/")
    assert r.status == 303 and r.headers["Location"] == browser.base + "/webmail/"
    r = await browser.get("/webmail/")
    assert r.status == 303 and r.headers["Location"] == browser.base + "/webmail/login"
    r = await browser.get("/webmail/INBOX?offset=50")
    assert r.status == 303
    assert r.headers["Location"].startswith(browser.base + "/webmail/login?next=")
    query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["next"] == ["/webmail/INBOX?offset=50"]


async def test_login_sets_cookie_and_lands_in_inbox(browser: Browser) -> None:
    r = await browser.login()
    assert r.status == 303 and r.headers["Location"] == browser.base + "/webmail/INBOX"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("rmail_session=")
    for attr in ("HttpOnly", "Path=/", "SameSite=Lax"):
        assert attr in cookie
    assert "Secure" not in cookie  # plain HTTP here; HTTPS sets it (tests/webmail/test_tls)
    page = await browser.follow(r)
    assert page.status == 200
    assert page.has(r'<span class="current-user"[^>]*>alice@example.com</span>')
    r = await browser.get("/webmail/")
    assert r.headers["Location"] == browser.base + "/webmail/INBOX"


async def test_login_back_to_next(browser: Browser) -> None:
    # never to another site
    page = await browser.get("/webmail/login?next=//evil.example/webmail/")
    assert page.form("login-form")["fields"]["next"] == ""
    page = await browser.get("/webmail/login?next=/webmail/Sent")
    r = await browser.submit(page, "login-form", username="alice", password="alice-password")
    assert r.status == 303 and r.headers["Location"] == browser.base + "/webmail/Sent"


async def test_wrong_password_401_with_form_error(browser: Browser) -> None:
    r = await browser.login(password="nope")
    assert r.status == 401
    assert r.has(r'class="form-error"')
    assert r.has(r'name="username"[^>]*value="alice@example.com"')
    assert browser.cookie("rmail_session") is None


async def test_lockout_429_with_retry_after(make_browser: MakeBrowser) -> None:
    b = await make_browser(security={"trusted_networks": [], "lockout_attempts": 3})
    for _ in range(2):
        assert (await b.login(password="nope")).status == 401
    r = await b.login(password="nope")
    assert r.status in (401, 429)
    r = await b.login()  # even the right password: the address is locked
    assert r.status == 429
    assert int(r.headers["Retry-After"]) > 60
    assert r.has('class="form-error"')
    # the same lockout answers the JSON API, with its own Retry-After
    api = await b.post("/auth/login", json={"username": "alice", "password": "alice-password"})
    assert api.status == 429 and int(api.headers["Retry-After"]) > 60


async def test_new_session_id_at_every_login(browser: Browser, make_browser: MakeBrowser
                                             ) -> None:
    await browser.login()
    first = browser.cookie("rmail_session")
    assert first
    other = await make_browser(share=browser)
    other.session.cookie_jar.update_cookies({"rmail_session": first})
    inbox = await browser.get("/webmail/INBOX")  # logged in: the login page redirects, so
    token = re.search(r'<meta name="csrf" content="([0-9a-f]+)"', inbox.text)  # post directly
    assert token
    r = await browser.post("/webmail/login", data={"csrf": token.group(1), "username": "alice",
                                                   "password": "alice-password"})
    assert r.status == 303
    second = browser.cookie("rmail_session")
    assert second and second != first
    assert (await other.get("/webmail/INBOX")).status == 303  # the old id is gone
    assert (await browser.get("/webmail/INBOX")).status == 200


async def test_only_a_hash_on_disk(browser: Browser) -> None:
    await browser.login()
    sid = browser.cookie("rmail_session")
    assert sid
    files = list((browser.config.mail_root / "sessions").rglob("*.json"))
    assert [f.stem for f in files] == [digest_of(sid)]
    assert sid not in files[0].read_text()


async def test_logout_ends_session_everywhere(browser: Browser, make_browser: MakeBrowser
                                              ) -> None:
    page = await browser.follow(await browser.login())
    sid = browser.cookie("rmail_session")
    thief = await make_browser(share=browser)
    thief.session.cookie_jar.update_cookies({"rmail_session": sid})
    assert (await thief.get("/webmail/INBOX")).status == 200
    r = await browser.submit(page, "logout-form")
    assert r.status == 303 and r.headers["Location"] == browser.base + "/webmail/login"
    assert (await thief.get("/webmail/INBOX")).status == 303
    assert not list((browser.config.mail_root / "sessions").rglob("*.json"))


async def test_session_survives_restart(browser: Browser, make_browser: MakeBrowser) -> None:
    await browser.login()
    sid = browser.cookie("rmail_session")
    # a second server process on the same mail root (a restart, or another worker)
    config = browser.config
    server = Server(config, services={"core": build_services(config)})
    await server.start()
    try:
        other = await make_browser(share=browser)
        other.session.cookie_jar.update_cookies({"rmail_session": sid})
        r = await other.get(server.url().rstrip("/") + "/webmail/INBOX")
        assert r.status == 200 and r.has('class="current-user"')
    finally:
        await server.stop()


def _age_session(browser: Browser, *, last_seen: float | None = None,
                 created: float | None = None) -> None:
    sid = browser.cookie("rmail_session")
    assert sid
    path = browser.services.sessions.layout.session_file(digest_of(sid))
    doc = json.loads(path.read_text())
    if last_seen is not None:
        doc["last_seen"] = last_seen
    if created is not None:
        doc["created"] = created
    path.write_text(json.dumps(doc))


async def test_idle_expiry(make_browser: MakeBrowser) -> None:
    b = await make_browser(webmail={"session_idle_seconds": 600})
    await b.login()
    assert (await b.get("/webmail/INBOX")).status == 200
    _age_session(b, last_seen=1000.0)  # long ago
    r = await b.get("/webmail/INBOX")
    assert r.status == 303 and "/webmail/login" in r.headers["Location"]
    assert not list((b.config.mail_root / "sessions").rglob("*.json"))


async def test_absolute_expiry(make_browser: MakeBrowser) -> None:
    b = await make_browser(webmail={"session_max_seconds": 3600})
    await b.login()
    _age_session(b, created=1000.0)  # logged in long ago, though used just now
    r = await b.get("/webmail/INBOX")
    assert r.status == 303 and "/webmail/login" in r.headers["Location"]


async def test_password_change_ends_sessions(browser: Browser) -> None:
    await browser.login()
    accounts = browser.services.accounts
    accounts.update(DOMAIN, "alice", password_hash=hash_password("another-password"))
    r = await browser.get("/webmail/INBOX")
    assert r.status == 303 and "/webmail/login" in r.headers["Location"]


async def test_disabled_account_ends_sessions(browser: Browser) -> None:
    await browser.login()
    browser.services.accounts.update(DOMAIN, "alice", enabled=False)
    assert (await browser.get("/webmail/INBOX")).status == 303


async def test_csrf_missing_or_wrong_is_403_and_changes_nothing(browser: Browser) -> None:
    page = await browser.follow(await browser.login())
    action = page.form("logout-form")["action"]
    r = await browser.post(action, data={})
    assert r.status == 403 and r.has('class="form-error"')
    r = await browser.post(action, data={"csrf": "0" * 64})
    assert r.status == 403
    r = await browser.post(action, data={"csrf": "x"}, headers={"X-CSRF-Token": "y"})
    assert r.status == 403
    assert (await browser.get("/webmail/INBOX")).status == 200  # still logged in
    # the login form too (double-submit cookie)
    other = await browser.post("/webmail/login", data={"username": "alice",
                                                       "password": "alice-password"})
    assert other.status == 403


async def test_csrf_header_accepted(browser: Browser) -> None:
    page = await browser.follow(await browser.login())
    token = re.search(r'<meta name="csrf" content="([0-9a-f]+)"', page.text)
    assert token
    r = await browser.post("/webmail/logout", data=b"",
                           headers={"X-CSRF-Token": token.group(1),
                                    "Content-Type": "application/octet-stream"})
    assert r.status == 303


async def test_security_headers(browser: Browser) -> None:
    for reply in (await browser.get("/webmail/login"),
                  await browser.follow(await browser.login()),
                  await browser.get("/webmail/static/style.css"),
                  await browser.get("/webmail/No-Such-Folder")):
        csp = reply.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert reply.headers["X-Content-Type-Options"] == "nosniff"


async def test_session_store_expiry_rules(tmp_path) -> None:
    from rmail.store.sessions import TOUCH_SECONDS, SessionStore

    store = SessionStore(tmp_path, idle=100, max_age=1000)
    sid, _ = store.create("example.com", "alice", 3, now=10_000)
    assert store.lookup(sid, now=10_010) is not None
    touched = store.lookup(sid, now=10_000 + TOUCH_SECONDS)  # rewrites last_seen
    assert touched is not None and touched.last_seen == 10_000 + TOUCH_SECONDS
    assert store.lookup(sid, now=10_000 + TOUCH_SECONDS + 99) is not None  # touched again
    assert store.lookup(sid, now=10_000 + TOUCH_SECONDS + 99 + 101) is None  # idle
    sid, _ = store.create("example.com", "alice", 3, now=0)
    for t in range(50, 1000, 50):
        assert store.lookup(sid, now=t) is not None
    assert store.lookup(sid, now=1001) is None  # absolute
    assert store.lookup("not a session id") is None
    assert store.lookup("../../etc/passwd") is None
    sid, _ = store.create("example.com", "bob", 0, now=0)
    assert store.end_all("example.com", "bob") == 1
    assert store.lookup(sid, now=1) is None
    store.create("example.com", "carol", 0, now=0)
    assert store.sweep(now=10**9) == 1
