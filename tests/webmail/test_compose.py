"""Compose through the shared submission core: send (local delivery + Sent copy), errors on
the form with the input kept, reply headers, forward keeping attachments, drafts."""

from __future__ import annotations

import email
from email import policy

import aiohttp

from tests.webmail.conftest import DOMAIN, Browser, Reply
from tests.webmail.test_message import rich_message, store


def form_data(page: Reply, **fields: str | tuple[str, bytes, str]) -> aiohttp.FormData:
    form = page.form("compose-form")
    data = aiohttp.FormData()
    data.add_field("csrf", form["fields"]["csrf"])  # first, as the page puts it
    values = {**{k: v for k, v in form["fields"].items() if k != "csrf"}, **fields}
    for name, value in values.items():
        if isinstance(value, tuple):
            filename, content, ctype = value
            data.add_field("attachments", content, filename=filename, content_type=ctype)
        else:
            data.add_field(name, value)
    return data


def folder(browser: Browser, user: str, name: str):  # type: ignore[no-untyped-def]
    return browser.services.mail.mailbox(DOMAIN, user).folder(name)


async def test_send_with_attachment(browser: Browser) -> None:
    await browser.login()
    page = await browser.get("/webmail/compose")
    assert page.status == 200
    for name in ("to", "cc", "bcc", "subject", "body", "attachments"):
        assert f'name="{name}"' in page.text
    assert 'class="action-send' in page.text and 'class="action-save-draft' in page.text
    data = form_data(page, to="Bob <bob@example.com>", subject="Hi Bob", body="Hello there",
                     action="send", file=("notes.txt", b"some notes", "text/plain"))
    r = await browser.post(page.form("compose-form")["action"], data=data)
    assert r.status == 303, r.text[:500]
    bob = folder(browser, "bob", "INBOX")
    (uid,) = bob.uids()
    got = email.message_from_bytes(bob.read_message(uid), policy=policy.default)
    assert got["Subject"] == "Hi Bob" and "alice@example.com" in got["From"]
    assert [p.get_filename() for p in got.iter_attachments()] == ["notes.txt"]
    sent = folder(browser, "alice", "Sent")
    assert sent.status().count == 1


async def test_errors_keep_input(browser: Browser) -> None:
    await browser.login()
    page = await browser.get("/webmail/compose")
    data = form_data(page, to="not an address", subject="Keep me", body="typed text",
                     action="send")
    r = await browser.post(page.form("compose-form")["action"], data=data)
    assert r.status == 400 and r.has('class="form-error"'), r.text[-800:]
    assert r.has('name="subject" type="text" value="Keep me"') and "typed text" in r.text
    browser.services.accounts.update(DOMAIN, "alice", submission_enabled=False)
    data = form_data(page, to="bob@example.com", subject="x", body="y", action="send")
    r = await browser.post(page.form("compose-form")["action"], data=data)
    assert r.status == 403 and r.has('class="form-error"')
    assert folder(browser, "bob", "INBOX").status().count == 0
    # no csrf: refused before anything is read
    bad = aiohttp.FormData()
    bad.add_field("to", "bob@example.com")
    bad.add_field("csrf", page.form("compose-form")["fields"]["csrf"])
    r = await browser.post("/webmail/compose", data=bad)
    assert r.status == 403


async def test_reply_and_forward(browser: Browser) -> None:
    uid = store(browser, rich_message())
    await browser.login()
    page = await browser.get(f"/webmail/compose?reply=INBOX/{uid}")
    form = page.form("compose-form")
    assert form["fields"]["in_reply_to"] == "<rich@example.net>"
    assert "<h1>Reply</h1>" in page.text
    assert "Re: Report &amp; &lt;plans&gt;" in page.text
    assert "carol@example.net" in page.text and "&gt; Plain version" in page.text
    all_page = await browser.get(f"/webmail/compose?reply_all=INBOX/{uid}")
    assert "bob@example.com" in all_page.text
    r = await browser.post(form["action"], data=form_data(
        page, to="bob@example.com", subject="Re: Report", body="ok", action="send"))
    assert r.status == 303
    bob = folder(browser, "bob", "INBOX")
    got = email.message_from_bytes(bob.read_message(bob.uids()[-1]), policy=policy.default)
    assert got["In-Reply-To"] == "<rich@example.net>"
    assert "<rich@example.net>" in got["References"]
    assert "\\Answered" in folder(browser, "alice", "INBOX").record(uid).flags

    fwd = await browser.get(f"/webmail/compose?forward=INBOX/{uid}")
    assert "Fwd: Report" in fwd.text and "q3" in fwd.text
    assert "<h1>Forward</h1>" in fwd.text
    r = await browser.post(fwd.form("compose-form")["action"], data=form_data(
        fwd, to="bob@example.com", action="send"))
    assert r.status == 303
    got = email.message_from_bytes(bob.read_message(bob.uids()[-1]), policy=policy.default)
    names = [p.get_filename() for p in got.iter_attachments()]
    assert len(names) == 2 and any(n and n.endswith(".pdf") for n in names)


async def test_drafts(browser: Browser) -> None:
    await browser.login()
    page = await browser.get("/webmail/compose")
    r = await browser.post(page.form("compose-form")["action"], data=form_data(
        page, to="bob@example.com", bcc="carol@example.net", subject="Later", body="draft text",
        action="draft"))
    assert r.status == 303
    drafts = folder(browser, "alice", "Drafts")
    (uid,) = drafts.uids()
    assert {"\\Draft", "\\Seen"} <= set(drafts.record(uid).flags)
    detail = await browser.get(f"/webmail/message/Drafts/{uid}")
    edit = f'action-edit-draft" href="{browser.base}/webmail/compose?draft={uid}"'
    assert edit in detail.text
    again = await browser.follow(r)
    assert again.form("compose-form")["fields"]["draft"] == str(uid)
    assert "draft text" in again.text and 'value="Later"' in again.text
    assert "carol@example.net" in again.text
    r = await browser.post(again.form("compose-form")["action"], data=form_data(
        again, to="bob@example.com", subject="Later", body="final", action="send"))
    assert r.status == 303
    assert drafts.status().count == 0  # the draft went when it was sent
    assert folder(browser, "bob", "INBOX").status().count == 1
