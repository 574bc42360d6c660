"""Sessions as a person meets them: the front door redirects, a wrong password is refused on the
form, login sets a fresh HttpOnly cookie, logout ends it, an idle session expires, and a
session survives a restart of the server (sessions live on disk)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest

from rmail.store import fsutil
from tests.webmail.e2e import pages
from tests.webmail.e2e.conftest import StartRmail
from tests.webmail.e2e.server import PASSWORD, RmailServer, make_message

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

IDLE_SECONDS = 600
MAX_SECONDS = 3600


def test_front_door_redirects(rmail: RmailServer, context: BrowserContext) -> None:
    root = context.request.get(rmail.url("/"), max_redirects=0)
    assert root.status == 303
    assert root.headers["location"].endswith("/webmail/")
    webmail = context.request.get(rmail.url("/webmail/"), max_redirects=0)
    assert webmail.status == 303
    assert "/webmail/login" in webmail.headers["location"]


def test_login_page_then_inbox(rmail: RmailServer, page: Page, user: str, shots) -> None:
    page.goto(rmail.url("/"))
    page.wait_for_url(re.compile(r"/webmail/login"))
    form = page.locator("form.login-form")
    assert form.get_attribute("action") == rmail.url("/webmail/login")
    assert form.locator("input[name=username]").count() == 1
    assert form.locator("input[name=password][type=password]").count() == 1
    assert form.locator("input[type=hidden][name=next]").count() == 1
    shots(page, "login")
    pages.submit_login(page, user, expect=r"/webmail/INBOX$")
    assert page.url == rmail.url("/webmail/INBOX")
    assert page.locator("span.current-user").inner_text().strip() == user
    assert page.locator("aside.sidebar").count() == 1
    assert page.locator("main.content").count() == 1


def test_bare_name_logs_in_to_the_only_domain(rmail: RmailServer, page: Page,
                                              user: str) -> None:
    page.goto(rmail.url("/webmail/login"))
    pages.submit_login(page, user.split("@")[0], expect=r"/webmail/INBOX$")
    assert page.locator("span.current-user").inner_text().strip() == user


def test_wrong_password_is_refused_on_the_form(rmail: RmailServer, page: Page,
                                              user: str) -> None:
    page.goto(rmail.url("/webmail/login"))
    response = pages.submit_login(page, user, "not the password")
    assert response is not None and response.status == 401
    assert page.locator("form.login-form .form-error, .form-error").first.is_visible()
    assert page.locator("form.login-form [name=username]").input_value() == user
    assert page.locator("form.login-form [name=password]").input_value() == ""
    assert not [c for c in page.context.cookies() if c["name"] == "rmail_session"]


def test_cookie_attributes_and_security_headers(rmail: RmailServer, page: Page,
                                                user: str) -> None:
    response = pages.login(page, rmail, user)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "rmail_session"]
    assert cookie["httpOnly"] is True
    assert cookie["secure"] is True  # served over HTTPS
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    assert response is not None
    headers = page.context.request.get(page.url).headers
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp
    assert "script-src" in csp or "default-src" in csp
    assert "'unsafe-inline'" not in re.split(r";\s*", csp.split("script-src", 1)[-1])[0]
    assert headers.get("x-content-type-options") == "nosniff"


def test_new_session_id_at_every_login(rmail: RmailServer, context: BrowserContext,
                                       page: Page, user: str) -> None:
    context.add_cookies([{"name": "rmail_session", "value": "attacker-chosen-id",
                          "url": rmail.origin()}])
    pages.login(page, rmail, user)
    first = [c["value"] for c in context.cookies() if c["name"] == "rmail_session"]
    assert first and first != ["attacker-chosen-id"]
    with page.expect_navigation():
        pages.action_button(page, "action-logout", scope="body").click()
    pages.login(page, rmail, user)
    second = [c["value"] for c in context.cookies() if c["name"] == "rmail_session"]
    assert second and second != first


def test_redirect_back_after_login(rmail: RmailServer, page: Page, user: str) -> None:
    (uid,) = rmail.append(user, [make_message("Deep link", to=user)])
    page.goto(rmail.url(f"/webmail/message/INBOX/{uid}"))
    page.wait_for_url(re.compile(r"/webmail/login"))
    pages.submit_login(page, user, expect=rf"/webmail/message/INBOX/{uid}$")
    assert page.locator(f'article.msg-detail[data-uid="{uid}"]').count() == 1


def test_logout_ends_the_session(rmail: RmailServer, chromium: Browser, page: Page,
                                 user: str) -> None:
    pages.login(page, rmail, user)
    (old,) = [c for c in page.context.cookies() if c["name"] == "rmail_session"]
    with page.expect_navigation():
        pages.action_button(page, "action-logout", scope="body").click()
    page.wait_for_url(re.compile(r"/webmail/login"))
    page.goto(rmail.url("/webmail/INBOX"))
    page.wait_for_url(re.compile(r"/webmail/login"))
    # The old cookie, replayed by someone who kept it, opens nothing either.
    other = chromium.new_context(ignore_https_errors=True)
    try:
        other.add_cookies([{"name": "rmail_session", "value": old["value"],
                            "url": rmail.origin()}])
        response = other.request.get(rmail.url("/webmail/INBOX"), max_redirects=0)
        assert response.status == 303
        assert "/webmail/login" in response.headers["location"]
    finally:
        other.close()


def pass_time(server: RmailServer, context: BrowserContext, **seconds: float) -> None:
    """Move the session's clocks back (``last_seen=...``, ``created=...``) as if that much
    time had passed, by rewriting its file on disk as the server would (atomic replace, so
    every process re-reads it). Sessions are kept on disk: this is their documented format."""
    sessions = pytest.importorskip("rmail.store.sessions")
    (cookie,) = [c for c in context.cookies() if c["name"] == "rmail_session"]
    store = sessions.SessionStore(server.mail_root)
    path = store.layout.session_file(sessions.digest_of(cookie["value"]))
    doc = json.loads(path.read_text())
    for key, delta in seconds.items():
        doc[key] -= delta
    fsutil.write_json(path, doc)


@pytest.fixture(scope="module")
def timed_rmail(start_rmail: StartRmail) -> RmailServer:
    return start_rmail(webmail={"session_idle_seconds": IDLE_SECONDS,
                                "session_max_seconds": MAX_SECONDS})


def test_idle_session_expires(timed_rmail: RmailServer, context: BrowserContext,
                              page: Page) -> None:
    address = timed_rmail.add_user()
    pages.login(page, timed_rmail, address)
    pass_time(timed_rmail, context, last_seen=IDLE_SECONDS - 30, created=IDLE_SECONDS - 30)
    pages.open_folder(page, "Sent")  # within the idle time: works (and counts as use)
    pass_time(timed_rmail, context, last_seen=IDLE_SECONDS + 1, created=IDLE_SECONDS + 1)
    with page.expect_navigation():
        page.locator('aside.sidebar li.folder-item[data-folder="INBOX"] a').first.click()
    page.wait_for_url(re.compile(r"/webmail/login"))
    assert page.locator("form.login-form").count() == 1
    # ... and logging in again brings the reader where they were going.
    pages.submit_login(page, address, PASSWORD, expect=r"/webmail/INBOX$")


def test_session_ends_at_its_maximum_age(timed_rmail: RmailServer, context: BrowserContext,
                                         page: Page) -> None:
    address = timed_rmail.add_user()
    pages.login(page, timed_rmail, address)
    pass_time(timed_rmail, context, created=MAX_SECONDS + 1)  # in use all along
    page.goto(timed_rmail.url("/webmail/INBOX"))
    page.wait_for_url(re.compile(r"/webmail/login"))


def test_password_change_ends_other_sessions(timed_rmail: RmailServer, chromium: Browser,
                                             page: Page) -> None:
    address = timed_rmail.add_user()
    pages.login(page, timed_rmail, address)
    other = chromium.new_context(ignore_https_errors=True)
    try:
        elsewhere = other.new_page()
        pages.login(elsewhere, timed_rmail, address)
        with page.expect_navigation():
            page.locator(f"aside.sidebar a[href^='{timed_rmail.url('/webmail/settings')}']"
                         ).first.click()
        form = page.locator("form").filter(has=page.locator("input[name=new_password], "
                                                            "input[name=password_new]")).first
        form.locator("input[type=password]").nth(0).fill(PASSWORD)
        for field in form.locator("input[type=password]").all()[1:]:
            field.fill("a brand new passphrase")
        with page.expect_navigation():
            form.locator("button:not([type=button]), input[type=submit]").first.click()
        assert not page.locator(".form-error").count()
        elsewhere.goto(timed_rmail.url("/webmail/INBOX"))
        elsewhere.wait_for_url(re.compile(r"/webmail/login"))
    finally:
        other.close()


def test_session_survives_a_restart(start_rmail: StartRmail, page: Page) -> None:
    server = start_rmail()
    address = server.add_user()
    pages.login(page, server, address)
    server.stop()
    server.start()  # a new process (and a new port: cookies are per host, not per port)
    page.goto(server.url("/webmail/INBOX"))
    assert page.url == server.url("/webmail/INBOX")
    assert page.locator("span.current-user").inner_text().strip() == address
