"""Fixtures for the real-browser tests: a running `rmail serve` and Debian's Chromium driven by
Playwright (sync API, in plain sync tests; nothing is downloaded: the system browser is used).

Servers and the browser live for a module (starting them costs a second or two each); every
test gets a fresh account and a fresh browser context (its own cookies), so tests do not see
each other's state.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.webmail.e2e.server import RmailServer

CHROMIUM = os.environ.get("RMAIL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
TIMEOUT_MS = 20_000

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
except ImportError:  # pragma: no cover - CI installs it (setup.cfg's test extra)
    sync_playwright = None  # type: ignore[assignment]


def _browser_missing() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed (pip install playwright; never `playwright install`)"
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


StartRmail = Callable[..., RmailServer]


@pytest.fixture(scope="module")
def start_rmail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartRmail]:
    """``start_rmail(webmail={...})``: a started server with these webmail settings."""
    servers: list[RmailServer] = []

    def start(webmail: dict[str, Any] | None = None) -> RmailServer:
        server = RmailServer(tmp_path_factory.mktemp("rmail"), webmail)
        servers.append(server)
        return server.start()

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture(scope="module")
def rmail(start_rmail: StartRmail) -> RmailServer:
    """The default server of a module (registration disabled, default session lifetimes)."""
    return start_rmail()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    missing = _browser_missing()
    if missing:
        pytest.skip(missing)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh profile: no cookies; the server's self-signed certificate accepted."""
    context = chromium.new_context(ignore_https_errors=True,
                                  viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def user(rmail: RmailServer) -> str:
    """A fresh account on the module's server (password `tests.mailenv.PASSWORD`)."""
    return rmail.add_user()


@pytest.fixture
def shots() -> Callable[[Page, str], None]:
    """``shots(page, name)`` saves a screenshot when ``RMAIL_SHOTS`` names a directory."""
    target = os.environ.get("RMAIL_SHOTS")

    def shot(page: Page, name: str) -> None:
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)

    return shot
