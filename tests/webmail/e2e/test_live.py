"""Live updates as a person meets them: the webmail's pages follow the account's change stream
(`GET /users/me/updates`, opened with the session cookie). Mail delivered over SMTP shows in
the open folder without a navigation; flags set and deletions in another tab change the rows;
after a server restart the page reconnects with `Last-Event-ID` and shows what was stored while
the server was down; a logout ends the stream (checked on the HTTP stream itself); the cookie
opens nothing from another origin, for another account, or for a change."""

from __future__ import annotations

import http.client
import ssl
from typing import TYPE_CHECKING, Any

from tests.webmail.e2e import pages
from tests.webmail.e2e.conftest import StartRmail
from tests.webmail.e2e.server import RmailServer, make_message

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Request

WAIT = 60  # seconds: a bound against hanging, never a measured expectation
UPDATES = "/users/me/updates"


def _navigations(page: Page) -> list[str]:
    """The URLs the page navigates to from now on (a reload counts)."""
    moves: list[str] = []
    page.on("framenavigated", lambda frame: moves.append(frame.url)
            if frame == page.main_frame else None)
    return moves


def _stream_requests(page: Page) -> list[Request]:
    found: list[Request] = []
    page.on("request", lambda r: found.append(r) if r.url.endswith(UPDATES) else None)
    return found


def _inbox_unread(page: Page) -> str | None:
    return page.locator('aside.sidebar li.folder-item[data-folder="INBOX"]').get_attribute(
        "data-unread")


def test_mail_over_smtp_shows_without_a_reload(rmail: RmailServer, page: Page,
                                               context: BrowserContext, user: str,
                                               shots: Any) -> None:
    rmail.append(user, [make_message("Already here")])
    requests = _stream_requests(page)
    console: list[str] = []  # the page's CSP (connect-src 'self') must allow both requests
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    with page.expect_response(lambda r: r.url.endswith(UPDATES)) as opened:
        pages.login(page, rmail, user)
    assert opened.value.status == 200
    assert _inbox_unread(page) == "1"
    moves = _navigations(page)
    rmail.smtp("carol@example.net", [user],
               make_message("Fresh over SMTP", sender="Carol <carol@example.net>", to=user))
    fresh = page.locator("tr.message-row.unread", has_text="Fresh over SMTP")
    fresh.wait_for(timeout=WAIT * 1000)
    page.wait_for_function("""() => document.querySelector(
        'aside.sidebar li.folder-item[data-folder="INBOX"]').dataset.unread === '2'""")
    assert page.locator("tr.message-row").count() == 2
    assert page.locator("section.message-list").get_attribute("data-total") == "2"
    assert page.locator('aside.sidebar li.folder-item[data-folder="INBOX"] .count'
                        ).inner_text() == "2"
    assert page.title().startswith("INBOX (2)")
    assert moves == [], f"the page navigated: {moves}"
    assert requests and all(r.url == rmail.url(UPDATES) for r in requests)
    assert not [m for m in console if "Content Security Policy" in m], console
    shots(page, "live-smtp-delivery")

    # read, starred and deleted in another tab (another client of the account): rows follow
    uid = max(rmail.uids(user))
    other = context.new_page()
    other.goto(rmail.url(f"/webmail/message/INBOX/{uid}"))
    pages.submit_action(other, "action-toggle-star")
    page.wait_for_function(f"""() => {{
        const tr = document.querySelector('tr.message-row[data-uid="{uid}"]');
        return tr && !tr.classList.contains('unread') && tr.classList.contains('flagged');
    }}""")
    assert pages.row(page, uid).locator("button.star").get_attribute("aria-label") == "Starred"
    assert "flagged" in pages.classes(pages.row(page, uid).locator("td.col-star"))
    page.wait_for_function("""() => document.querySelector(
        'aside.sidebar li.folder-item[data-folder="INBOX"]').dataset.unread === '1'""")
    shots(page, "live-flags")
    pages.submit_action(other, "action-delete")
    pages.row(page, uid).wait_for(state="detached")
    assert page.locator("tr.message-row").count() == 1
    assert moves == [], f"the page navigated: {moves}"


def test_checked_rows_are_not_replaced(rmail: RmailServer, page: Page, user: str) -> None:
    """While rows are checked for a bulk action the list stays; the counts still move."""
    rmail.append(user, [make_message("Keep me checked")])
    pages.login(page, rmail, user)
    page.locator("input.row-check").first.check()
    rmail.smtp("carol@example.net", [user], make_message("While busy", to=user))
    page.wait_for_function("""() => document.querySelector(
        'aside.sidebar li.folder-item[data-folder="INBOX"]').dataset.unread === '2'""")
    assert page.locator("tr.message-row").count() == 1
    assert page.locator("input.row-check").first.is_checked()


def test_page_resumes_after_a_restart(start_rmail: StartRmail, page: Page, shots: Any) -> None:
    server = start_rmail()
    user = server.add_user()
    requests = _stream_requests(page)
    pages.login(page, server, user)
    moves = _navigations(page)
    server.smtp("carol@example.net", [user], make_message("Before the restart", to=user))
    page.locator("tr.message-row", has_text="Before the restart").wait_for(timeout=WAIT * 1000)
    first = len(requests)

    server.stop()
    server.append(user, [make_message("Stored while down")])  # as the CLI or a restore would
    server.restart()

    page.locator("tr.message-row", has_text="Stored while down").wait_for(timeout=WAIT * 1000)
    assert page.locator("tr.message-row").count() == 2
    assert moves == [], f"the page navigated: {moves}"
    shots(page, "live-after-restart")
    # EventSource reconnected by itself, telling the server where the page stood
    again = [r for r in requests[first:] if r.failure is None]  # (not the refused tries)
    assert again, "no reconnection"
    assert all(r.all_headers().get("last-event-id") for r in again), [
        (r.url, r.failure, r.all_headers()) for r in requests[first:]]


# -- the stream over HTTP ------------------------------------------------------------------------
def _connect(rmail: RmailServer) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection("localhost", rmail.port, timeout=WAIT,
                                       context=ssl._create_unverified_context())


def _cookie(context: BrowserContext) -> str:
    found = [c for c in context.cookies() if c["name"] == "rmail_session"]
    assert found, "not logged in"
    return f"rmail_session={found[0]['value']}"


def _get(rmail: RmailServer, path: str, headers: dict[str, str],
         method: str = "GET") -> tuple[int, bytes]:
    """Status and body (an event stream's body is not read: it does not end)."""
    conn = _connect(rmail)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        if response.getheader("Content-Type") == "text/event-stream":
            return response.status, b""
        return response.status, response.read()
    finally:
        conn.close()


def test_logout_ends_the_stream(rmail: RmailServer, page: Page, context: BrowserContext,
                                user: str) -> None:
    pages.login(page, rmail, user)
    cookie = _cookie(context)
    conn = _connect(rmail)
    try:
        conn.request("GET", UPDATES, headers={"Cookie": cookie, "Accept": "text/event-stream"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        assert response.readline() == b"retry: 3000\n"
        assert response.readline().startswith(b"id: ")  # where the stream starts
        with page.expect_navigation():
            page.locator(".action-logout").click()
        page.wait_for_url("**/webmail/login**")
        # the session is gone: the server ends the response (a clean end of the chunked body)
        rest = response.read()
        assert b"data:" not in rest
        assert response.isclosed()
    finally:
        conn.close()
    status, _ = _get(rmail, UPDATES, {"Cookie": cookie})
    assert status == 401  # and EventSource, refused, does not reconnect


def test_cookie_is_for_own_reads_from_own_pages(rmail: RmailServer, page: Page,
                                                context: BrowserContext, user: str) -> None:
    other = rmail.add_user()
    pages.login(page, rmail, user)
    cookie = {"Cookie": _cookie(context)}
    status, body = _get(rmail, "/users/me/mailboxes?counters=true", cookie)
    assert status == 200 and b'"INBOX"' in body and b'"unseen"' in body
    assert _get(rmail, f"/users/{other}/updates", cookie)[0] == 403
    assert _get(rmail, f"/users/{other}/mailboxes", cookie)[0] == 403
    for hostile in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "https://attacker.example"},
                    {"Origin": f"https://localhost:{rmail.port + 1}"}):
        assert _get(rmail, UPDATES, {**cookie, **hostile})[0] == 403, hostile
        assert _get(rmail, "/users/me/mailboxes", {**cookie, **hostile})[0] == 403, hostile
    assert _get(rmail, UPDATES, {**cookie, "Sec-Fetch-Site": "same-origin",
                                 "Origin": rmail.origin()})[0] == 200
    # a cookie never opens a change (that would be a cross-site request forgery)
    assert _get(rmail, "/users/me/mailboxes", cookie, method="POST")[0] == 401
    assert _get(rmail, "/users/me", cookie)[0] == 401
    # the old webmail-only stream is gone: one stream
    assert _get(rmail, "/webmail/events", cookie)[0] == 404
    # a malformed position is answered with RESYNC, never an error
    conn = _connect(rmail)
    try:
        conn.request("GET", UPDATES, headers={**cookie, "Last-Event-ID": "%%not-a-position"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.readline() == b"retry: 3000\n"
        assert response.readline().startswith(b"id: ")
        assert b'"RESYNC"' in response.readline()
    finally:
        conn.close()
