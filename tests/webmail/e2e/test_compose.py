"""Writing mail: reply (threading headers, quoted text), forward with the original attachment
plus a new one, errors kept on the form, and drafts. Delivery is real: the recipients are
local accounts, so the sent message is read back from their INBOX."""

from __future__ import annotations

import email
import email.policy
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.webmail.e2e import pages
from tests.webmail.e2e.server import RmailServer, make_message

if TYPE_CHECKING:
    from playwright.sync_api import Page

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 20 + b"\n%%EOF\n"


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def wait_for(rmail: RmailServer, address: str, subject: str, folder: str = "INBOX",
             attempts: int = 200) -> email.message.EmailMessage:
    """Local delivery finishes before the page answers; a short grace for queued copies."""
    for _ in range(attempts):
        for raw in rmail.messages(address, folder):
            msg = parsed(raw)
            if msg["Subject"] == subject:
                return msg
        time.sleep(0.05)
    raise AssertionError(f"no {subject!r} in {address}'s {folder}")


def test_reply(rmail: RmailServer, page: Page, user: str, shots) -> None:
    friend = rmail.add_user()
    original = make_message("Lunch?", sender=f"Friend <{friend}>", to=user,
                            body="Shall we have lunch on Friday?\nAt noon.\n",
                            headers={"References": "<earlier@example.net>"})
    (uid,) = rmail.append(user, [original])
    msgid = parsed(original)["Message-ID"]
    pages.login(page, rmail, user)
    pages.open_message(page, uid)
    with page.expect_navigation():
        page.locator("main.content a.action-reply").first.click()
    form = page.locator("form.compose-form")
    shots(page, "compose-reply")
    assert friend in form.locator("[name=to]").input_value()
    assert form.locator("[name=subject]").input_value() == "Re: Lunch?"
    quoted = form.locator("[name=body]").input_value()
    assert "> Shall we have lunch on Friday?" in quoted
    form.locator("[name=body]").fill("Yes, noon is fine.\n\n" + quoted)
    with page.expect_navigation():
        form.locator(".action-send").click()
    assert not page.locator(".form-error").count()

    reply = wait_for(rmail, friend, "Re: Lunch?")
    assert reply["In-Reply-To"] == msgid
    assert reply["References"].split() == ["<earlier@example.net>", msgid]
    assert reply["From"].addresses[0].addr_spec == user
    assert "Yes, noon is fine." in reply.get_body(("plain",)).get_content()
    wait_for(rmail, user, "Re: Lunch?", folder="Sent")
    assert "\\Answered" in rmail.flags(user, uid)


def test_reply_all_fills_every_recipient_but_me(rmail: RmailServer, page: Page,
                                                user: str) -> None:
    (uid,) = rmail.append(user, [make_message(
        "Team", sender="lead@example.org", to=f"{user}, dev@example.org",
        cc="qa@example.org")])
    pages.login(page, rmail, user)
    pages.open_message(page, uid)
    with page.expect_navigation():
        page.locator("main.content a.action-reply-all").first.click()
    form = page.locator("form.compose-form")
    everyone = form.locator("[name=to]").input_value() + "," + \
        form.locator("[name=cc]").input_value()
    for address in ("lead@example.org", "dev@example.org", "qa@example.org"):
        assert address in everyone
    assert user not in everyone


def test_forward_with_attachment(rmail: RmailServer, page: Page, user: str,
                                 tmp_path: Path) -> None:
    colleague = rmail.add_user()
    (uid,) = rmail.append(user, [make_message(
        "Figures", to=user, body="The figures.\n",
        attachments=[("figures.pdf", "application/pdf", PDF)])])
    extra = tmp_path / "comments.txt"
    extra.write_bytes(b"My comments on the figures.\n")
    pages.login(page, rmail, user)
    pages.open_message(page, uid)
    with page.expect_navigation():
        page.locator("main.content a.action-forward").first.click()
    form = page.locator("form.compose-form")
    subject = form.locator("[name=subject]").input_value()
    assert subject in ("Fwd: Figures", "Fw: Figures")
    assert "figures.pdf" in form.inner_text(), "the forwarded attachment is shown on the form"
    form.locator("[name=to]").fill(colleague)
    form.locator("input[type=file][name=attachments]").set_input_files(str(extra))
    assert form.locator("input[type=file][name=attachments]").get_attribute(
        "multiple") is not None
    with page.expect_navigation():
        form.locator(".action-send").click()
    assert not page.locator(".form-error").count()

    sent = wait_for(rmail, colleague, subject)
    files = {part.get_filename(): part.get_content() for part in sent.iter_attachments()}
    assert files["figures.pdf"] == PDF
    assert files["comments.txt"] in (b"My comments on the figures.\n",
                                     "My comments on the figures.\n")


def test_errors_keep_what_was_typed(rmail: RmailServer, page: Page, user: str) -> None:
    pages.login(page, rmail, user)
    with page.expect_navigation():
        page.locator("aside.sidebar .action-compose").first.click()
    form = page.locator("form.compose-form")
    for name in ("to", "cc", "bcc", "subject", "body"):
        assert form.locator(f"[name={name}]").count() == 1, name
    assert form.locator(".action-save-draft").count() == 1
    form.locator("[name=to]").fill("not an address")
    form.locator("[name=subject]").fill("Typed subject")
    form.locator("[name=body]").fill("A body I do not want to type again.")
    with page.expect_navigation():
        form.locator(".action-send").click()
    assert page.locator(".form-error").first.is_visible()
    form = page.locator("form.compose-form")
    assert form.locator("[name=to]").input_value() == "not an address"
    assert form.locator("[name=subject]").input_value() == "Typed subject"
    assert form.locator("[name=body]").input_value() == "A body I do not want to type again."
    assert rmail.messages(user, "Sent") == []
def test_save_and_reopen_draft(rmail: RmailServer, page: Page, user: str) -> None:
    pages.login(page, rmail, user)
    with page.expect_navigation():
        page.locator("aside.sidebar .action-compose").first.click()
    form = page.locator("form.compose-form")
    form.locator("[name=to]").fill("someone@example.org")
    form.locator("[name=subject]").fill("Unfinished")
    form.locator("[name=body]").fill("To be continued.")
    with page.expect_navigation():
        form.locator(".action-save-draft").click()
    draft = wait_for(rmail, user, "Unfinished", folder="Drafts")
    assert "To be continued." in draft.get_body(("plain",)).get_content()
    (uid,) = rmail.uids(user, "Drafts")
    assert "\\Draft" in rmail.flags(user, uid, "Drafts")

    pages.open_folder(page, "Drafts")
    with page.expect_navigation():
        pages.row(page, uid).locator("a.message-link").click()
    if not page.locator("form.compose-form").count():  # the detail page offers to edit it
        edit = page.locator("main.content a[href*='draft=']")
        assert edit.count(), "a draft opened from Drafts offers no way to edit it"
        with page.expect_navigation():
            edit.first.click()
    form = page.locator("form.compose-form")
    assert form.locator("[name=subject]").input_value() == "Unfinished"
    assert form.locator("[name=to]").input_value() == "someone@example.org"
    assert "To be continued." in form.locator("[name=body]").input_value()
