"""`/webmail/settings/security` over HTTP: two-factor set up with a QR code and turned on with
a pyotp code, the login then asking for a code (replay refused, recovery code accepted once),
application passwords created (shown once) and revoked, addresses, recent activity; CSRF."""

from __future__ import annotations

import base64
import re
import time

import pyotp

from tests.webmail.conftest import DOMAIN, Browser, MakeBrowser, password_of

BASE = "/webmail/settings/security"


async def _enable(browser: Browser) -> tuple[pyotp.TOTP, list[str], float]:
    await browser.login()
    page = await browser.get(BASE)
    assert page.status == 200 and page.has('data-enabled="false"')
    page = await browser.submit(page, "twofactor-start")
    assert page.status == 200 and page.has(r'<img class="twofactor-qr" src="data:image/png')
    seed = re.search(r'<code class="twofactor-seed">([A-Z2-7]+)</code>', page.text)
    assert seed is not None
    totp = pyotp.TOTP(seed.group(1))
    wrong = await browser.submit(page, "twofactor-activate", token="abcdef")
    assert wrong.status == 403 and wrong.has('class="form-error"')
    t0 = time.time()
    page = await browser.submit(page, "twofactor-activate", token=totp.at(t0))
    assert page.status == 200 and page.has('data-enabled="true"')
    codes = re.findall(r'<li class="recovery-code"><code>([a-z0-9-]+)</code>', page.text)
    assert len(codes) == 10
    return totp, codes, t0


async def test_two_factor_login(make_browser: MakeBrowser) -> None:
    browser = await make_browser()
    totp, codes, t0 = await _enable(browser)
    other = await make_browser(share=browser)  # another browser, no session
    page = await other.login()
    assert page.status == 200 and page.has('class="login-form totp-form"')
    assert "password" not in page.form("totp-form")["fields"]  # never sent back to the page
    wrong = await other.submit(page, "totp-form", token="000000" if totp.at(t0 + 30)
                               != "000000" else "111111")
    assert wrong.status == 401 and wrong.has('class="form-error"')
    done = await other.submit(wrong, "totp-form", token=totp.at(t0 + 30))
    assert done.status == 303 and other.cookie("rmail_session")
    # replaying the code in a third browser fails; a recovery code works, once
    third = await make_browser(share=browser)
    page = await third.login()
    assert (await third.submit(page, "totp-form", token=totp.at(t0 + 30))).status == 401
    assert (await third.submit(page, "totp-form", token=codes[0])).status == 303
    fourth = await make_browser(share=browser)
    page = await fourth.login()
    assert (await fourth.submit(page, "totp-form", token=codes[0])).status == 401
    # a forged proof of the password gets nowhere
    forged = {**page.form("totp-form")["fields"], "pending": "YWxpY2U.00", "token": codes[1]}
    assert (await fourth.post(page.form("totp-form")["action"], data=forged)).status == 401
    # turning it off needs the password and a code
    sec = await browser.get(BASE)
    bad = await browser.submit(sec, "twofactor-disable", password="nope", token=codes[2])
    assert bad.status == 403
    off = await browser.submit(sec, "twofactor-disable", password=password_of("alice"),
                               token=codes[2])
    assert off.status == 303
    page = await browser.follow(off)
    assert page.has('data-enabled="false"')
    assert page.has('data-action="enable 2fa"') and page.has('data-action="disable 2fa"')


async def test_app_passwords_page(browser: Browser) -> None:
    await browser.login()
    page = await browser.get(BASE)
    bad = await browser.submit(page, "asp-create", description="phone")  # no scope ticked
    assert bad.status == 400 and bad.has('class="form-error"')
    made = await browser.post(page.form("asp-create")["action"], data=[
        ("csrf", page.form("asp-create")["fields"]["csrf"]), ("description", "phone"),
        ("scope", "imap"), ("scope", "api")])
    assert made.status == 200
    match = re.search(r'<code class="asp-new-password">([a-z]{16})</code>', made.text)
    assert match is not None
    password = match.group(1)
    # it works where it may: the JSON API with Basic
    raw = base64.b64encode(f"alice@{DOMAIN}:{password}".encode()).decode()
    auth = {"Authorization": f"Basic {raw}"}
    async with browser.session.get(browser.base + "/folders", headers=auth) as r:
        assert r.status == 200
    page = await browser.get(BASE)
    assert password not in page.text  # shown once
    row = re.search(r'<tr class="asp-item" data-id="([0-9a-f]{24})"', page.text)
    assert row is not None and page.has("imap, api")
    deleted = await browser.submit(page, "asp-delete")
    assert deleted.status == 303
    async with browser.session.get(browser.base + "/folders", headers=auth) as r:
        assert r.status == 401
    # without the CSRF token nothing happens
    forged = await browser.post(page.form("asp-create")["action"], data={
        "description": "x", "scope": "imap"})
    assert forged.status in (400, 403)


async def test_addresses_page(browser: Browser) -> None:
    await browser.login()
    page = await browser.get(BASE)
    added = await browser.submit(page, "address-add", address=f"Alice2@{DOMAIN}")
    assert added.status == 303
    page = await browser.follow(added)
    assert page.has(f'data-address="alice2@{DOMAIN}"')
    for address, status in ((f"bob@{DOMAIN}", 409), ("alice@other.org", 400), ("x", 400)):
        reply = await browser.submit(page, "address-add", address=address)
        assert reply.status == status, address
    main = await browser.submit(page, "address-main", address=f"alice2@{DOMAIN}")
    page = await browser.follow(main)
    assert browser.services.accounts.get(DOMAIN, "alice").address == f"alice2@{DOMAIN}"
    refused = await browser.submit(page, "address-main", address=f"alice@{DOMAIN}")
    page = await browser.follow(refused)
    removed = await browser.submit(page, "address-delete", address=f"alice2@{DOMAIN}")
    assert removed.status == 303
    assert browser.services.accounts.get(DOMAIN, "alice").addresses == (f"alice@{DOMAIN}",)
