"""Hostile HTML mail rendered in Chromium: no script of the sender's ever runs and nothing is
fetched from anywhere but the webmail's own origin until the reader clicks "show remote
images" (and then remote images only). The corpus and its sources: `../hostile/README.md`.

Every vector tries two canaries: it sets ``window.__pwned`` (checked in every frame) and
fetches a URL on a listener of ours (`Canary`); dialogs (``alert``) are recorded too. Every
request the browser makes is seen by a route handler before it leaves: the server's origin
and the canary listener are let through, anything else is aborted and recorded.
"""

from __future__ import annotations

import email
import email.policy
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.webmail.e2e import pages
from tests.webmail.e2e.server import RmailServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Frame, Page, Request, Route

HOSTILE = Path(__file__).resolve().parents[1] / "hostile"
CORPUS = sorted(HOSTILE.glob("*.eml"))
GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000"
                    "010001000002024401003b")
# What "show remote images" must bring in for the message that has plain remote images.
MUST_LOAD_AFTER_SHOW = {"10-remote-resources.eml": "/img/picture.png"}


class Canary:
    """An HTTP listener on 127.0.0.1 that records every path asked of it."""

    def __init__(self) -> None:
        hits = self.hits = []  # type: list[str]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body = GIF if self.path.startswith("/img/") else b"pwned"
                self.send_response(200)
                self.send_header("Content-Type",
                                 "image/gif" if body is GIF else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Watch:
    """What the browser did: every request (with its type) and every dialog."""

    own: str
    canary: str
    requests: list[tuple[str, str]] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    popups: list[Page] = field(default_factory=list)
    open: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        context.on("request", lambda r: self.open.append(r.url))
        for event in ("requestfinished", "requestfailed"):
            context.on(event, lambda r: r.url in self.open and self.open.remove(r.url))

    def remote(self) -> list[tuple[str, str]]:
        return [(url, kind) for url, kind in self.requests if not url.startswith(self.own)
                and not url.startswith(("data:", "blob:", "about:"))]

    def in_flight(self) -> list[str]:
        """Requests still open, apart from the long-lived event stream."""
        return [url for url in self.open if not url.endswith("/users/me/updates")]

    def route(self, route: Route, request: Request) -> None:
        self.requests.append((request.url, request.resource_type))
        if request.url.startswith((self.own, self.canary)):
            route.continue_()
        else:
            route.abort()


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    listener = Canary()
    yield listener
    listener.close()


def corpus_message(path: Path, canary: Canary) -> bytes:
    text = path.read_text().replace("{{CANARY}}", canary.base)
    text = text.replace("{{CANARY_HOSTPORT}}", canary.base.split("//", 1)[1])
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def pwned_in_frames(page: Page) -> list[str]:
    found = []
    for frame in page.frames:
        try:
            value = frame.evaluate("() => window.__pwned")
        except Exception:  # a frame that went away while we looked
            continue
        if value is not None:
            found.append(f"{frame.url}: {value!r}")
    return found


# Links, buttons and submit inputs the reader might click that do not leave for the web:
# javascript:, data:, vbscript:, fragment-only. Clicking http(s) links would leave the
# webmail on purpose and is not what is tested.
CLICKABLE_JS = """
() => [...document.querySelectorAll('a[href], area[href], button, input[type=submit],
                                     input[type=image]')]
  .filter(el => el.tagName !== 'A' && el.tagName !== 'AREA' ||
          /^\\s*(javascript|vbscript|data):|^#/i.test(
              el.getAttribute('href').replace(/[\\u0000-\\u001f]/g, '')))
  .map((el, i) => { el.setAttribute('data-hostile-click', String(i)); return i; })
"""


def body_frames(page: Page) -> list[Frame]:
    return [frame for frame in page.frames if frame is not page.main_frame]


def click_everything_in_body(page: Page) -> None:
    """Click what a curious reader would click in the message body (main page or frames)."""
    scopes: list[tuple[Frame, str]] = [(page.main_frame, ".msg-body ")]
    scopes += [(frame, "") for frame in body_frames(page)]
    for frame, prefix in scopes:
        try:
            marks = frame.evaluate(CLICKABLE_JS.replace("document.querySelectorAll('",
                                                        f"document.querySelectorAll('{prefix}"))
        except Exception:
            continue
        for mark in marks:
            try:
                frame.locator(f'[data-hostile-click="{mark}"]').first.click(
                    force=True, no_wait_after=True, timeout=2_000)
            except Exception:  # hidden, detached or covered: nothing a reader could click
                continue


def settle(page: Page, watch: Watch) -> None:
    """Let whatever the page would do happen: loaded, then quiet. `networkidle` cannot serve:
    the webmail keeps a server-sent event stream open. The pause covers delayed vectors
    (a one-second meta refresh, animations, marquee), not a timing assertion."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(1_500)
    for _ in range(100):
        if not watch.in_flight():
            return
        page.wait_for_timeout(100)


def check_attachment_headers(context: BrowserContext, page: Page) -> None:
    """Active content (HTML, SVG) is never served inline and sniffable from our origin."""
    for link in page.locator("section.attachments a.attachment-link").all():
        href = link.get_attribute("href") or ""
        response = context.request.get(href)
        assert response.status == 200, href
        headers = response.headers
        disposition = headers.get("content-disposition", "")
        csp = headers.get("content-security-policy", "")
        assert disposition.lower().startswith("attachment") or "sandbox" in csp, (
            href, disposition, csp)
        assert headers.get("x-content-type-options") == "nosniff", href
        assert "\n" not in disposition and "\r" not in disposition
        assert "attacker" not in headers.get("set-cookie", ""), href
        assert "../" not in disposition and "..%2f" not in disposition.lower(), disposition


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_hostile_message_runs_and_fetches_nothing(rmail: RmailServer, context: BrowserContext,
                                                 page: Page, user: str, canary: Canary,
                                                 path: Path) -> None:
    canary.hits.clear()
    (uid,) = rmail.append(user, [corpus_message(path, canary)])
    watch = Watch(own=rmail.origin(), canary=canary.base)
    context.route("**/*", watch.route)
    watch.watch(context)
    page.on("dialog", lambda dialog: (watch.dialogs.append(dialog.message), dialog.dismiss()))
    context.on("page", lambda popup: watch.popups.append(popup))

    pages.login(page, rmail, user)
    settle(page, watch)
    assert pwned_in_frames(page) == [], "a script ran on the message list"
    pages.open_message(page, uid)
    settle(page, watch)
    click_everything_in_body(page)
    settle(page, watch)

    assert pwned_in_frames(page) == []
    assert watch.dialogs == []
    assert [p.url for p in watch.popups
            if not p.url.startswith((rmail.origin(), "about:"))] == []
    assert canary.hits == []
    assert watch.remote() == [], "remote loads before the reader asked"
    assert page.url.startswith(rmail.origin())
    check_attachment_headers(context, page)

    show = page.locator("main.content .action-show-remote")
    if not show.count():
        assert path.name not in MUST_LOAD_AFTER_SHOW, "remote images but no way to show them"
        return
    before = len(watch.requests)
    tag = show.first.evaluate("el => el.tagName.toLowerCase()")
    button = pages.action_button(page, "action-show-remote") if tag == "form" else show.first
    with page.expect_navigation():
        button.click()
    settle(page, watch)
    click_everything_in_body(page)
    settle(page, watch)
    after = [(url, kind) for url, kind in watch.requests[before:]
             if not url.startswith(rmail.origin())
             and not url.startswith(("data:", "blob:", "about:"))]
    assert [(url, kind) for url, kind in after if kind != "image"] == []
    image_paths = {urlsplit(url).path for url, _ in after}
    assert set(canary.hits) <= image_paths
    assert pwned_in_frames(page) == []
    assert watch.dialogs == []
    if path.name in MUST_LOAD_AFTER_SHOW:
        assert MUST_LOAD_AFTER_SHOW[path.name] in canary.hits


def test_hostile_headers_are_text(rmail: RmailServer, page: Page, user: str,
                                  canary: Canary) -> None:
    """Markup in Subject and From is shown as the characters it is, in the list and detail."""
    (uid,) = rmail.append(user, [corpus_message(HOSTILE / "15-headers-and-plain-text.eml",
                                                canary)])
    pages.login(page, rmail, user)
    row = pages.row(page, uid)
    assert "<script>" in row.locator(".message-subject").inner_text()
    assert "<img src=x" in row.locator(".message-from").inner_text() or \
        "mallory@evil.example" in row.locator(".message-from").inner_text()
    pages.open_message(page, uid)
    assert "<script>window.__pwned='subject'</script>" in \
        page.locator("h2.msg-subject").inner_text()
    body = page.locator("div.msg-body").inner_text()
    for frame in body_frames(page):
        body += frame.locator("body").inner_text()
    assert "<script>window.__pwned='plain text script'</script>" in body
    assert pwned_in_frames(page) == []


@pytest.mark.parametrize("name", ["01-script-tags.eml", "02-event-handlers.eml",
                                  "10-remote-resources.eml"])
def test_canaries_fire_on_unsanitised_html(page: Page, canary: Canary, name: str) -> None:
    """The control: the same HTML put into a page as it is does trip the detectors, so their
    silence above means the webmail stopped it."""
    canary.hits.clear()
    raw = corpus_message(HOSTILE / name, canary)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    page.set_content(html)
    page.wait_for_timeout(1_000)
    if name == "10-remote-resources.eml":
        assert "/img/picture.png" in canary.hits
    else:
        assert pwned_in_frames(page) or canary.hits
