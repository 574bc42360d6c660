"""What a person does in the webmail, as small steps the tests share: log in, open a folder or
a message by clicking, submit one of the action forms; and readers for what a scraper reads.
Every step goes through the page's own links and forms, never a hand-made URL, except where
the webmail contract (TEAM.md) fixes the URL: the login page, `/webmail/{folder}`,
`?offset=N` and `/webmail/message/{folder}/{uid}`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.mailenv import PASSWORD

pytest.importorskip("playwright.sync_api",
                    reason="playwright is not installed (never `playwright install`)")

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Response

    from tests.webmail.e2e.server import RmailServer

# Every href/action/src/formaction/poster in the page's own markup (not the message body).
URL_ATTRIBUTES_JS = """
() => {
  const found = [];
  for (const el of document.querySelectorAll('[href],[action],[src],[formaction],[poster]')) {
    if (el.closest('.msg-body')) continue;
    for (const attr of ['href', 'action', 'src', 'formaction', 'poster']) {
      if (el.hasAttribute(attr)) found.push([el.tagName.toLowerCase(), attr,
                                              el.getAttribute(attr)]);
    }
  }
  return found;
}
"""


def login(page: Page, rmail: RmailServer, address: str, password: str = PASSWORD,
          host: str = "localhost") -> Response | None:
    """Open the login page, type the credentials, press Enter; returns on the INBOX."""
    page.goto(rmail.url("/webmail/login", host))
    return submit_login(page, address, password, expect=r"/webmail/INBOX")


def submit_login(page: Page, address: str, password: str = PASSWORD,
                 expect: str | None = None) -> Response | None:
    form = page.locator("form.login-form")
    form.locator("[name=username]").fill(address)
    form.locator("[name=password]").fill(password)
    with page.expect_navigation() as nav:
        form.locator("[name=password]").press("Enter")
    if expect:
        page.wait_for_url(re.compile(expect))
    return nav.value


def open_folder(page: Page, folder: str) -> None:
    """Click the folder in the sidebar."""
    with page.expect_navigation():
        page.locator(f'aside.sidebar li.folder-item[data-folder="{folder}"] a').first.click()
    page.locator(f'section.message-list[data-folder="{folder}"]').wait_for()


def row(page: Page, uid: int) -> Locator:
    return page.locator(f'tr.message-row[data-uid="{uid}"]')


def open_message(page: Page, uid: int) -> None:
    """Click the subject of the row (in the list shown)."""
    with page.expect_navigation():
        row(page, uid).locator("td.col-subject a.message-link").click()
    page.locator(f'article.msg-detail[data-uid="{uid}"]').wait_for()


def action_button(page: Page, cls: str, scope: str = "main.content") -> Locator:
    """The submit control of the action ``.cls``: the element itself when it is a button, or
    the submit button of the form that carries the class."""
    target = page.locator(f"{scope} .{cls}").first
    tag = target.evaluate("el => el.tagName.toLowerCase()")
    if tag == "form":
        return target.locator("button:not([type=button]), input[type=submit]").first
    return target


def submit_action(page: Page, cls: str, scope: str = "main.content") -> None:
    with page.expect_navigation():
        action_button(page, cls, scope).click()


def form_of(page: Page, cls: str, scope: str = "main.content") -> Locator:
    """The form of the action ``.cls`` (the element itself, or the form its button submits)."""
    target = page.locator(f"{scope} .{cls}").first
    if target.evaluate("el => el.tagName.toLowerCase()") == "form":
        return target
    form_id = target.get_attribute("form")
    if form_id:
        return page.locator(f"form#{form_id}")
    return target.locator("xpath=ancestor::form[1]")


def form_fields(form: Locator) -> dict[str, Any]:
    """The action URL and hidden inputs of a form, as the browser would submit them."""
    return form.evaluate("""f => ({action: f.getAttribute('action'), method: f.method,
        hidden: Object.fromEntries([...f.querySelectorAll('input[type=hidden]')]
                                   .map(i => [i.name, i.value]))})""")


def assert_stays(page: Page, what: str, pause_ms: int = 1_500) -> None:
    """The page does not navigate (or reload itself) while nobody touches it."""
    moves: list[str] = []

    def navigated(frame: Any) -> None:
        if frame == page.main_frame:
            moves.append(frame.url)

    page.on("framenavigated", navigated)
    try:
        page.wait_for_timeout(pause_ms)
    finally:
        page.remove_listener("framenavigated", navigated)
    assert moves == [], f"{what} navigated by itself to {moves}"


def url_attributes(page: Page) -> list[tuple[str, str, str]]:
    return [tuple(item) for item in page.evaluate(URL_ATTRIBUTES_JS)]  # type: ignore[misc]


def assert_absolute(page: Page, origin: str, where: str) -> int:
    """Every URL attribute of the page starts with ``origin/``; returns how many there were."""
    found = url_attributes(page)
    pattern = re.compile(rf"^{re.escape(origin)}/")
    wrong = [item for item in found if not pattern.match(item[2])]
    assert wrong == [], f"{where}: not absolute on {origin}: {wrong}"
    return len(found)


def attrs(locator: Locator, *names: str) -> dict[str, str | None]:
    return {name: locator.get_attribute(name) for name in names}


def classes(locator: Locator) -> set[str]:
    return set((locator.get_attribute("class") or "").split())


def texts(locator: Locator) -> list[str]:
    return [t.strip() for t in locator.all_inner_texts()]
