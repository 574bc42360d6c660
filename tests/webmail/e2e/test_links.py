"""Every href, action and src of every page is absolute (scheme://host:port/...) and names the
origin the browser used, whether that was `localhost` or `127.0.0.1` (so the session cookie,
which belongs to that host, goes along with every click)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.webmail.e2e import pages
from tests.webmail.e2e.server import RmailServer, make_message

if TYPE_CHECKING:
    from playwright.sync_api import Page


def click(page: Page, selector: str) -> None:
    with page.expect_navigation():
        page.locator(selector).first.click()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_every_url_is_absolute_on_the_origin_used(rmail: RmailServer, page: Page,
                                                  user: str, host: str) -> None:
    origin = rmail.origin(host)
    (uid,) = rmail.append(user, [make_message(
        "Links", to=user, html="<p>Hi <a href='https://example.org/'>there</a></p>",
        attachments=[("a.txt", "text/plain", b"attachment")])])
    rmail.append(user, [make_message(f"filler {i}", to=user) for i in range(60)])

    page.goto(rmail.url("/webmail/login", host))
    seen = pages.assert_absolute(page, origin, "login")
    pages.submit_login(page, user, expect=r"/webmail/INBOX$")
    assert page.url == f"{origin}/webmail/INBOX"
    visits = {
        "list": lambda: None,
        "list page 2": lambda: click(page, "nav.pagination a.pagination-next"),
        "folder": lambda: click(page, 'li.folder-item[data-folder="Archive"] a'),
        "compose": lambda: click(page, "aside.sidebar .action-compose"),
        "settings": lambda: click(page, f"aside.sidebar a[href^='{origin}/webmail/settings']"),
    }
    for where, go in visits.items():
        go()
        assert page.url.startswith(origin), where
        seen += pages.assert_absolute(page, origin, where)

    page.goto(f"{origin}/webmail/INBOX?offset=50")  # the page that holds the first message
    pages.open_message(page, uid)
    seen += pages.assert_absolute(page, origin, "detail")
    for action in ("a.action-reply", "a.action-reply-all", "a.action-forward"):
        page.goto(f"{origin}/webmail/message/INBOX/{uid}")
        click(page, f"main.content {action}")
        seen += pages.assert_absolute(page, origin, action)
    form = page.locator("form.search-form")
    form.locator("[name=q]").fill("filler")
    with page.expect_navigation():
        form.locator("[name=q]").press("Enter")
    seen += pages.assert_absolute(page, origin, "search")
    assert seen > 50  # the pages really had links to check
