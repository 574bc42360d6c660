"""`/webmail/settings/filters`: add, list, disable and delete filters and set forwarding
through the forms; a filter made here files the next delivered message; bad input and a
missing CSRF token are refused."""

from __future__ import annotations

import re

from tests.webmail.conftest import DOMAIN, Browser

PAGE = "/webmail/settings/filters"


def rows(text: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr class="filter-row" data-filter="([0-9a-f]{24})" '
                      r'data-disabled="(true|false)"', text)


async def test_add_toggle_delete_and_deliver(browser: Browser) -> None:
    await browser.login()
    settings = await browser.get("/webmail/settings")
    assert browser.base + PAGE in settings.text  # linked from the settings page
    page = await browser.get(PAGE)
    assert page.status == 200 and rows(page.text) == []
    archive = browser.services.mail.mailbox(DOMAIN, "alice").folder("Archive").mailbox_id()
    r = await browser.submit(page, "filter-create", name="invoices", subject="Invoice",
                             mailbox=archive, seen="1")
    assert r.status == 303, r.text[:500]
    page = await browser.follow(r)
    [(fid, disabled)] = rows(page.text)
    assert disabled == "false" and "Filter added." in page.text
    assert "move to Archive" in page.text and "Subject contains “Invoice”" in page.text

    raw = (f"From: a@example.net\r\nTo: alice@{DOMAIN}\r\nSubject: invoice 7\r\n\r\nhi\r\n")
    report = await browser.services.delivery.deliver_local(
        raw.encode(), mail_from="a@example.net", recipients=[f"alice@{DOMAIN}"])
    assert report.ok
    archived = browser.services.mail.mailbox(DOMAIN, "alice").folder("Archive")
    assert [r.flags for r in archived.records(0, 10)] == [("\\Seen",)]

    toggle = await browser.submit(page, "filter-toggle")
    assert toggle.status == 303
    page = await browser.get(PAGE)
    assert rows(page.text) == [(fid, "true")]
    gone = await browser.submit(page, "filter-delete")
    assert gone.status == 303
    assert rows((await browser.get(PAGE)).text) == []


async def test_bad_input_shows_a_form_error(browser: Browser) -> None:
    await browser.login()
    page = await browser.get(PAGE)
    for fields, words in (({"subject": "x"}, "action must do something"),
                          ({"size": "ten", "seen": "1"}, "whole number"),
                          ({"seen": "1", "targets": f"alice@{DOMAIN}"}, "forward loop"),
                          ({"seen": "1", "mailbox": "Fffffffffffffffffffffffff"}, "no longer"),
                          ({"delete": "1", "spam": "1"}, "cannot be combined")):
        r = await browser.submit(page, "filter-create", **fields)
        assert r.status == 400, fields
        assert 'class="form-error"' in r.text and words in r.text, (fields, r.text[:300])
    assert rows((await browser.get(PAGE)).text) == []
    no_csrf = await browser.post(browser.base + PAGE + "/create", data={"subject": "x",
                                                                         "seen": "1"})
    assert no_csrf.status == 403
    bad_id = await browser.post(browser.base + PAGE + "/..%2Fx/delete",
                                data={"csrf": page.form("filter-create")["fields"]["csrf"]})
    assert bad_id.status == 404


async def test_forwarding_form(browser: Browser) -> None:
    await browser.login()
    page = await browser.get(PAGE)
    r = await browser.submit(page, "forwarding-form", forward="Carol@Remote.Example, "
                             "dave@remote.example")
    assert r.status == 303
    rules = browser.services.delivery.rules.store.get(DOMAIN, "alice")
    assert rules.forward == ("carol@remote.example", "dave@remote.example")
    assert rules.forward_keep is False  # the box was not ticked
    page = await browser.get(PAGE)
    assert 'value="carol@remote.example, dave@remote.example"' in page.text
    r = await browser.submit(page, "forwarding-form", forward=f"alice@{DOMAIN}", keep="1")
    assert r.status == 400 and "forward loop" in r.text
    r = await browser.submit(page, "forwarding-form", forward="", keep="1")
    assert r.status == 303
    rules = browser.services.delivery.rules.store.get(DOMAIN, "alice")
    assert rules.forward == () and rules.forward_keep is True
