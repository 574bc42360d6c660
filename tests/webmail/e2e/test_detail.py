"""The message detail page: its selectors, attachments, and every action a reader clicks, each
checked against the store (what an IMAP client watching the folder would see)."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from tests.webmail.e2e import pages
from tests.webmail.e2e.server import RmailServer, make_message

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
NOTES = b"Notes for the meeting.\nLine two.\n"
SENT_AT = dt.datetime(2025, 4, 13, 14, 30, tzinfo=dt.UTC)


def report(to: str) -> bytes:
    return make_message(
        "Quarterly report", sender="Alice Example <alice@example.net>",
        to=f"{to}, Bob Other <bob.other@example.org>", cc="carol@example.org",
        body="Hi,\nthe report is attached; figures at https://example.org/q1?x=1&y=2 .\n",
        date=SENT_AT,
        attachments=[("report.pdf", "application/pdf", PDF),
                     ("notes.txt", "text/plain", NOTES)])


def test_detail_field_by_field(rmail: RmailServer, context: BrowserContext, page: Page,
                               user: str, shots) -> None:
    (uid,) = rmail.append(user, [report(user)])
    assert "\\Seen" not in rmail.flags(user, uid)
    pages.login(page, rmail, user)
    pages.open_message(page, uid)
    shots(page, "detail")
    assert page.url == rmail.url(f"/webmail/message/INBOX/{uid}")

    article = page.locator("article.msg-detail")
    assert pages.attrs(article, "data-uid", "data-folder") == {
        "data-uid": str(uid), "data-folder": "INBOX"}
    header = article.locator("header.msg-header")
    assert header.locator("h2.msg-subject").inner_text().strip() == "Quarterly report"
    meta = header.locator("div.msg-meta")
    sender = meta.locator("div.msg-from .message-from").inner_text()
    assert "Alice Example" in sender or "alice@example.net" in sender
    to = " ".join(meta.locator("div.msg-to .message-to").all_inner_texts())
    assert user in to and ("bob.other@example.org" in to or "Bob Other" in to)
    assert "carol@example.org" in meta.locator("div.msg-cc .message-cc").inner_text()
    when = meta.locator("div.msg-date time.message-date")
    assert dt.datetime.fromisoformat(when.get_attribute("datetime") or "") == SENT_AT
    body = article.locator("div.msg-body")
    assert "the report is attached" in body.inner_text()
    link = body.locator("a[href^='https://example.org/q1']")
    assert link.count() == 1, "URLs in plain text are made clickable"
    assert link.get_attribute("href") == "https://example.org/q1?x=1&y=2"

    section = page.locator("section.attachments")
    assert section.get_attribute("data-count") == "2"
    items = section.locator("span.attachment-item")
    assert [i.get_attribute("data-filename") for i in items.all()] == ["report.pdf", "notes.txt"]
    indexes = [i.get_attribute("data-index") or "" for i in items.all()]
    assert len(set(indexes)) == 2 and all(i.isdigit() for i in indexes)
    for item, data in zip(items.all(), (PDF, NOTES), strict=True):
        href = item.locator("a.attachment-link").get_attribute("href") or ""
        index = item.get_attribute("data-index")
        assert href == rmail.url(f"/webmail/message/INBOX/{uid}/part/{index}")
        assert re.search(r"\d+(\.\d+)?\s*(bytes|B|KB|kB|MB)", item.inner_text())
        response = context.request.get(href)
        assert response.status == 200
        assert response.body() == data
        assert response.headers["content-disposition"].startswith("attachment")
        assert item.get_attribute("data-filename") in response.headers["content-disposition"]

    # Opening the message marked it \Seen, as an IMAP FETCH of its body would.
    assert "\\Seen" in rmail.flags(user, uid)
    for selector in ("a.action-reply", "a.action-reply-all", "a.action-forward",
                     ".action-delete", ".action-move", ".action-toggle-read",
                     ".action-toggle-star", ".action-junk", "a.action-source"):
        assert page.locator(f"main.content {selector}").count() >= 1, selector
    for selector in ("a.action-reply", "a.action-reply-all", "a.action-forward",
                     "a.action-source"):
        assert (page.locator(selector).first.get_attribute("href") or "").startswith(
            rmail.origin() + "/webmail/")
    options = page.locator("main.content .action-move select[name=target] option")
    assert "Archive" in [o.get_attribute("value") for o in options.all()]


def test_star_and_unread_toggles(rmail: RmailServer, page: Page, user: str) -> None:
    (uid,) = rmail.append(user, [make_message("Toggle me", to=user)])
    pages.login(page, rmail, user)
    pages.open_message(page, uid)
    pages.submit_action(page, "action-toggle-star")
    assert "\\Flagged" in rmail.flags(user, uid)
    page.locator(f'article.msg-detail[data-uid="{uid}"]').wait_for()
    pages.submit_action(page, "action-toggle-star")
    assert "\\Flagged" not in rmail.flags(user, uid)

    # Marking unread returns to the list, so that the message stays unread.
    pages.submit_action(page, "action-toggle-read")
    page.locator('section.message-list[data-folder="INBOX"]').wait_for()
    assert "\\Seen" not in rmail.flags(user, uid)
    assert "unread" in pages.classes(pages.row(page, uid))


def test_move_junk_and_delete(rmail: RmailServer, page: Page, user: str) -> None:
    moved, junk, deleted = rmail.append(user, [make_message(s, to=user)
                                               for s in ("Move me", "Spam", "Delete me")])
    pages.login(page, rmail, user)

    pages.open_message(page, moved)
    form = pages.form_of(page, "action-move")
    form.locator("select[name=target]").select_option("Archive")
    pages.submit_action(page, "action-move")
    assert moved not in rmail.uids(user)
    assert [m for m in rmail.messages(user, "Archive") if b"Subject: Move me" in m]

    page.goto(rmail.url("/webmail/INBOX"))
    pages.open_message(page, junk)
    pages.submit_action(page, "action-junk")
    assert junk not in rmail.uids(user)
    assert [m for m in rmail.messages(user, "Junk") if b"Subject: Spam" in m]

    page.goto(rmail.url("/webmail/INBOX"))
    pages.open_message(page, deleted)
    pages.submit_action(page, "action-delete")
    assert rmail.uids(user) == []
    (in_trash,) = rmail.uids(user, "Trash")

    # In Trash, deleting is for ever, after a confirmation step that needs no JavaScript.
    pages.open_folder(page, "Trash")
    pages.open_message(page, in_trash)
    pages.submit_action(page, "action-delete")
    assert rmail.uids(user, "Trash") == [in_trash], "deleted for ever without confirmation"
    with page.expect_navigation():
        page.locator("main.content .action-confirm-delete").click()
    assert rmail.uids(user, "Trash") == []


def test_view_source(rmail: RmailServer, page: Page, user: str) -> None:
    (uid,) = rmail.append(user, [make_message("Source please", to=user,
                                              headers={"X-Custom": "a <b> c"})])
    pages.login(page, rmail, user)
    pages.open_message(page, uid)
    link = page.locator("a.action-source").first
    if link.get_attribute("target") == "_blank":  # opens beside the message
        with page.context.expect_page() as opened:
            link.click()
        page = opened.value
        page.wait_for_load_state()
    else:
        with page.expect_navigation():
            link.click()
    text = page.locator("body").inner_text()
    assert "X-Custom: a <b> c" in text
    assert "Subject: Source please" in text
