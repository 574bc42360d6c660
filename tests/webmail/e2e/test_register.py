"""Registration: off by default (404, and no link anywhere); when enabled, a person signs up
on `form.register-form`, is logged in, and bad choices are refused with a clear message."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from rmail.store.accounts import Accounts
from tests.webmail.e2e import pages
from tests.webmail.e2e.conftest import StartRmail
from tests.webmail.e2e.server import DOMAIN, RmailServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

GOOD_PASSWORD = "a long and unusual passphrase"


@pytest.fixture(scope="module")
def open_rmail(start_rmail: StartRmail) -> RmailServer:
    return start_rmail(webmail={"registration": {"enabled": True, "domains": [DOMAIN],
                                                 "per_ip_per_hour": 50}})


def test_disabled_registration_is_a_404_without_links(rmail: RmailServer, page: Page,
                                                      user: str) -> None:
    response = page.goto(rmail.url("/webmail/register"))
    assert response is not None and response.status == 404
    page.goto(rmail.url("/webmail/login"))
    assert not page.locator("a[href*='/webmail/register']").count()
    assert page.context.request.post(rmail.url("/webmail/register"), form={
        "username": "sneaky", "domain": DOMAIN, "password": GOOD_PASSWORD,
        "password_confirm": GOOD_PASSWORD}, max_redirects=0).status in (403, 404)
    assert Accounts(rmail.mail_root).find_address(f"sneaky@{DOMAIN}") is None
    pages.submit_login(page, user, expect=r"/webmail/INBOX$")
    assert not page.locator("a[href*='/webmail/register']").count()


def fill(page: Page, username: str, password: str, confirm: str | None = None, *,
         server_checks: bool = False) -> None:
    """Fill and submit the form; ``server_checks`` turns the browser's own checks (such as
    `minlength`) off, to see what the server answers a client that skips them."""
    form = page.locator("form.register-form")
    if server_checks:
        form.evaluate("f => { f.noValidate = true; }")
    form.locator("[name=username]").fill(username)
    domain = form.locator("[name=domain]")
    if domain.evaluate("el => el.tagName.toLowerCase()") == "select":
        assert [o.get_attribute("value") for o in domain.locator("option").all()] == [DOMAIN]
        domain.select_option(DOMAIN)
    form.locator("[name=password]").fill(password)
    form.locator("[name=password_confirm]").fill(password if confirm is None else confirm)
    with page.expect_navigation():
        form.locator("[name=password_confirm]").press("Enter")


def test_sign_up_and_land_in_the_inbox(open_rmail: RmailServer, page: Page, shots) -> None:
    page.goto(open_rmail.url("/webmail/login"))
    with page.expect_navigation():
        page.locator("a[href*='/webmail/register']").first.click()
    assert page.url == open_rmail.url("/webmail/register")
    pages.assert_absolute(page, open_rmail.origin(), "register")
    shots(page, "register")
    fill(page, "newcomer", GOOD_PASSWORD)
    page.wait_for_url(re.compile(r"/webmail/INBOX$"))
    assert page.locator("span.current-user").inner_text().strip() == f"newcomer@{DOMAIN}"
    account = Accounts(open_rmail.mail_root).find_address(f"newcomer@{DOMAIN}")
    assert account is not None
    folders = [e.name for e in
               open_rmail.folder(f"newcomer@{DOMAIN}").owner.entries()]
    for name in ("INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"):
        assert name in folders


@pytest.mark.parametrize(("username", "password", "confirm", "why"), [
    ("postmaster", GOOD_PASSWORD, None, "reserved name"),
    ("abuse", GOOD_PASSWORD, None, "reserved name"),
    ("taken", GOOD_PASSWORD, None, "name taken"),
    ("shorty", "short", None, "password too short"),
    ("common", "password1234", None, "common password"),
    ("mismatch", GOOD_PASSWORD, GOOD_PASSWORD + "!", "confirmation differs"),
    ("bad name!", GOOD_PASSWORD, None, "invalid name"),
])
def test_refusals_are_explained(open_rmail: RmailServer, page: Page, username: str,
                                password: str, confirm: str | None, why: str) -> None:
    accounts = Accounts(open_rmail.mail_root)
    if accounts.find_address(f"taken@{DOMAIN}") is None:
        open_rmail.add_user("taken")
    page.goto(open_rmail.url("/webmail/register"))
    fill(page, username, password, confirm, server_checks=True)
    assert page.url.startswith(open_rmail.url("/webmail/register")), why
    assert page.locator(".form-error").first.is_visible(), why
    assert page.locator("form.register-form [name=username]").input_value() == username
    if username not in ("taken", "bad name!"):
        assert accounts.find_address(f"{username}@{DOMAIN}") is None, why
    assert not [c for c in page.context.cookies() if c["name"] == "rmail_session"]
