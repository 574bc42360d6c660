"""The message list and the sidebar, selector by selector as the manual and issue 11 give them,
and paging through a 5,000-message folder by clicking."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from tests.webmail.e2e import pages
from tests.webmail.e2e.server import RmailServer, make_message, numbered

if TYPE_CHECKING:
    from playwright.sync_api import Page

BIG = 5_000


def test_rows_field_by_field(rmail: RmailServer, page: Page, user: str, shots) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    (plain,) = rmail.append(user, [make_message("First, unread", date=now, to=user,
                                                sender="Alice Example <alice@example.net>")])
    (starred,) = rmail.append(user, [make_message("Second, starred", date=now, to=user,
                                                  sender="carol@example.org")],
                              flags=["\\Seen", "\\Flagged"])
    (answered,) = rmail.append(user, [make_message("Third <b>& more</b>", date=now, to=user,
                                                   sender='"Dan Q." <dan@example.org>')],
                               flags=["\\Seen", "\\Answered"])
    pages.login(page, rmail, user)
    shots(page, "list")

    section = page.locator("section.message-list")
    assert pages.attrs(section, "data-folder", "data-total") == {
        "data-folder": "INBOX", "data-total": "3"}
    rows = page.locator("tr.message-row")
    assert [int(r.get_attribute("data-uid") or 0) for r in rows.all()] == [
        answered, starred, plain]  # newest first
    expected = {
        plain: (set(), "Alice Example", "First, unread"),
        starred: ({"\\Seen", "\\Flagged"}, "carol@example.org", "Second, starred"),
        answered: ({"\\Seen", "\\Answered"}, "Dan Q.", "Third <b>& more</b>"),
    }
    for uid, (flags, sender, subject) in expected.items():
        row = pages.row(page, uid)
        assert row.get_attribute("data-folder") == "INBOX"
        assert set((row.get_attribute("data-flags") or "").split()) == flags
        cls = pages.classes(row)
        assert "message-row" in cls
        assert ("unread" in cls) == ("\\Seen" not in flags), cls
        assert ("flagged" in cls) == ("\\Flagged" in flags), cls
        assert row.locator("td.col-check input.row-check[type=checkbox]").count() == 1
        assert row.locator("td.col-star").count() == 1
        assert row.locator("td.col-from .message-from").inner_text().strip() == sender
        link = row.locator("td.col-subject a.message-link")
        assert link.locator(".message-subject").inner_text().strip() == subject
        assert link.get_attribute("href") == rmail.url(f"/webmail/message/INBOX/{uid}")
        when = row.locator("td.col-date time.message-date")
        stamp = dt.datetime.fromisoformat(when.get_attribute("datetime") or "")
        assert stamp.tzinfo is not None
        assert abs((stamp - now).total_seconds()) < 86_400
        assert when.inner_text().strip()
    assert "flagged" in pages.classes(pages.row(page, starred).locator("td.col-star"))

    info = page.locator("span.page-info")
    assert pages.attrs(info, "data-total", "data-offset", "data-limit") == {
        "data-total": "3", "data-offset": "0", "data-limit": "50"}
    assert info.inner_text().strip() == "1–3 of 3"


def test_sidebar_folders(rmail: RmailServer, page: Page, user: str) -> None:
    rmail.append(user, [make_message(f"m{i}", to=user) for i in range(3)])
    rmail.append(user, [make_message("seen", to=user)], flags=["\\Seen"])
    rmail.append(user, [make_message("archived", to=user)], folder="Archive")
    rmail.append(user, [make_message("nested", to=user)], folder="Projects/Rmail",
                 create=True)
    pages.login(page, rmail, user)
    items = page.locator("aside.sidebar li.folder-item")
    names = [i.get_attribute("data-folder") for i in items.all()]
    assert names[0] == "INBOX"
    for name in ("Drafts", "Sent", "Trash", "Junk", "Archive", "Projects", "Projects/Rmail"):
        assert name in names, names
    inbox = page.locator('aside.sidebar li.folder-item[data-folder="INBOX"]')
    assert pages.attrs(inbox, "data-total", "data-unread") == {
        "data-total": "4", "data-unread": "3"}
    assert "active" in pages.classes(inbox)
    assert inbox.locator("span.count").inner_text().strip() == "3"
    assert inbox.locator("a").get_attribute("href") == rmail.url("/webmail/INBOX")
    archive = page.locator('aside.sidebar li.folder-item[data-folder="Archive"]')
    assert "active" not in pages.classes(archive)
    assert pages.attrs(archive, "data-total", "data-unread") == {
        "data-total": "1", "data-unread": "1"}
    nested = page.locator('aside.sidebar li.folder-item[data-folder="Projects/Rmail"]')
    assert nested.locator("a").get_attribute("href") == rmail.url("/webmail/Projects/Rmail")
    # Hierarchy is shown: the child is drawn inside (or indented under) its parent.
    parent = page.locator('aside.sidebar li.folder-item[data-folder="Projects"]')
    inside = parent.locator('li.folder-item[data-folder="Projects/Rmail"]').count() == 1
    left = "el => (el.querySelector('.name') || el).getBoundingClientRect().left"
    assert inside or nested.evaluate(left) > parent.evaluate(left)
    for link in ("action-compose",):
        assert page.locator(f"aside.sidebar .{link}").count() == 1
    hrefs = [a.get_attribute("href") or "" for a in page.locator("aside.sidebar a").all()]
    for path in ("/webmail/compose", "/webmail/calendar", "/webmail/drive",
                 "/webmail/settings"):
        assert any(h.startswith(rmail.url(path)) for h in hrefs), (path, hrefs)
    assert page.locator(".action-logout").count() >= 1

    pages.open_folder(page, "Projects/Rmail")
    assert page.url == rmail.url("/webmail/Projects/Rmail")
    nested = page.locator('aside.sidebar li.folder-item[data-folder="Projects/Rmail"]')
    assert "active" in pages.classes(nested)
    assert page.locator("tr.message-row").count() == 1
    assert page.locator("tr.message-row").get_attribute("data-folder") == "Projects/Rmail"


def test_reserved_word_folder_stays_reachable(rmail: RmailServer, page: Page,
                                              user: str) -> None:
    (uid,) = rmail.append(user, [make_message("in a folder called search", to=user)],
                          folder="search", create=True)
    pages.login(page, rmail, user)
    pages.open_folder(page, "search")
    assert page.url == rmail.url("/webmail/folder/search")
    assert pages.row(page, uid).count() == 1


def test_paginate_a_big_folder(rmail: RmailServer, page: Page, user: str) -> None:
    rmail.folder(user, "Big", create=True)
    for start in range(1, BIG + 1, 1000):
        rmail.append(user, numbered(1000, start), folder="Big")
    pages.login(page, rmail, user)
    pages.open_folder(page, "Big")

    def shown() -> tuple[dict[str, str | None], list[int]]:
        info = pages.attrs(page.locator("span.page-info"), "data-total", "data-offset",
                           "data-limit")
        uids = [int(r.get_attribute("data-uid") or 0)
                for r in page.locator("tr.message-row").all()]
        return info, uids

    info, uids = shown()
    assert info == {"data-total": str(BIG), "data-offset": "0", "data-limit": "50"}
    assert uids == list(range(BIG, BIG - 50, -1))
    assert page.locator("span.page-info").inner_text().strip() == f"1–50 of {BIG:,}"
    assert page.locator('section.message-list').get_attribute("data-total") == str(BIG)
    assert not page.locator("nav.pagination a.pagination-prev[href]").count()

    for offset in (50, 100):
        with page.expect_navigation():
            page.locator("nav.pagination a.pagination-next").click()
        info, uids = shown()
        assert info["data-offset"] == str(offset)
        assert uids == list(range(BIG - offset, BIG - offset - 50, -1))
        assert page.url == rmail.url(f"/webmail/Big?offset={offset}")
    assert page.locator("span.page-info").inner_text().strip() == f"101–150 of {BIG:,}"
    with page.expect_navigation():
        page.locator("nav.pagination a.pagination-prev").click()
    info, uids = shown()
    assert info["data-offset"] == "50" and uids[0] == BIG - 50

    page.goto(rmail.url(f"/webmail/Big?offset={BIG - 50}"))  # the last page, by its URL
    info, uids = shown()
    assert info["data-offset"] == str(BIG - 50)
    assert uids == list(range(50, 0, -1))
    assert page.locator("span.page-info").inner_text().strip() == f"4,951–5,000 of {BIG:,}"
    assert not page.locator("nav.pagination a.pagination-next[href]").count()
    for link in page.locator("nav.pagination a[href]").all():
        assert re.match(rf"^{re.escape(rmail.origin())}/webmail/Big(\?offset=\d+)?$",
                        link.get_attribute("href") or "")
