"""Account security in Chromium: set up two-factor from the QR page with a pyotp code, log out,
log in again through the code page; create an application password on its page, see it once,
use it with HTTP Basic on the JSON API, revoke it."""

from __future__ import annotations

import base64
import re
import time
from typing import TYPE_CHECKING

import pyotp

from tests.webmail.e2e import pages
from tests.webmail.e2e.server import PASSWORD, RmailServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

SECURITY = "/webmail/settings/security"


def test_two_factor_setup_and_login(rmail: RmailServer, page: Page, user: str, shots) -> None:
    pages.login(page, rmail, user)
    page.goto(rmail.url("/webmail/settings"))
    page.locator("a.settings-security-link").click()
    page.wait_for_url(re.compile(SECURITY + "$"))
    assert page.locator(".twofactor").get_attribute("data-enabled") == "false"
    with page.expect_navigation():
        page.locator("form.twofactor-start button").click()
    qr = page.locator("img.twofactor-qr")
    assert qr.get_attribute("src").startswith("data:image/png;base64,")
    assert qr.evaluate("img => img.naturalWidth") > 0  # the browser drew it (CSP allows data:)
    shots(page, "twofactor-qr")
    totp = pyotp.TOTP(page.locator("code.twofactor-seed").inner_text().strip())
    t0 = time.time()
    page.locator("form.twofactor-activate input[name=token]").fill(totp.at(t0))
    with page.expect_navigation():
        page.locator("form.twofactor-activate input[name=token]").press("Enter")
    assert page.locator(".twofactor").get_attribute("data-enabled") == "true"
    assert page.locator("li.recovery-code").count() == 10

    with page.expect_navigation():
        page.locator(".action-logout").first.click()
    page.goto(rmail.url("/webmail/login"))
    form = page.locator("form.login-form")
    form.locator("[name=username]").fill(user)
    form.locator("[name=password]").fill(PASSWORD)
    with page.expect_navigation():
        form.locator("[name=password]").press("Enter")
    code_form = page.locator("form.totp-form")
    assert code_form.count() == 1
    assert code_form.locator("input[name=password]").count() == 0
    shots(page, "twofactor-login")
    code_form.locator("[name=token]").fill(totp.at(t0 + 30))
    with page.expect_navigation():
        code_form.locator("[name=token]").press("Enter")
    page.wait_for_url(re.compile(r"/webmail/INBOX$"))
    assert page.locator("span.current-user").inner_text().strip() == user


def test_app_password_page(rmail: RmailServer, context: BrowserContext, page: Page,
                           user: str, shots) -> None:
    pages.login(page, rmail, user)
    page.goto(rmail.url(SECURITY))
    form = page.locator("form.asp-create")
    form.locator("[name=description]").fill("Phone")
    form.locator("input[name=scope][value=api]").check()
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    password = page.locator("code.asp-new-password").inner_text().strip()
    assert re.fullmatch(r"[a-z]{16}", password)
    shots(page, "app-password")
    basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    reply = context.request.get(rmail.url("/folders"), headers={"Authorization": basic})
    assert reply.status == 200
    page.goto(rmail.url(SECURITY))
    assert password not in page.content()
    assert page.locator("tr.asp-item").count() == 1
    with page.expect_navigation():
        page.locator("tr.asp-item form.asp-delete button").click()
    assert page.locator("tr.asp-item").count() == 0
    reply = context.request.get(rmail.url("/folders"), headers={"Authorization": basic})
    assert reply.status == 401
