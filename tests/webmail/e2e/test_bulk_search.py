"""Bulk actions on checked rows (the toolbar appears through `:has(input.row-check:checked)`)
and search in one folder or all of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.webmail.e2e import pages
from tests.webmail.e2e.server import RmailServer, make_message

if TYPE_CHECKING:
    from playwright.sync_api import Page


def check_rows(page: Page, uids: list[int]) -> None:
    for uid in uids:
        pages.row(page, uid).locator("input.row-check").check()


def bulk(page: Page, cls: str) -> None:
    with page.expect_navigation():
        page.locator(f"form.bulk-actions .{cls}").first.click()


def test_toolbar_appears_when_a_row_is_checked(rmail: RmailServer, page: Page,
                                               user: str) -> None:
    (uid,) = rmail.append(user, [make_message("one", to=user)])
    pages.login(page, rmail, user)
    toolbar = page.locator("form.bulk-actions")
    for cls in ("action-delete", "action-move", "action-mark-read", "action-mark-unread",
                "action-star"):
        assert toolbar.locator(f".{cls}").count() >= 1, cls
    assert toolbar.locator("select[name=target]").count() == 1
    assert not toolbar.locator(".action-delete").first.is_visible()
    check_rows(page, [uid])
    assert toolbar.locator(".action-delete").first.is_visible()
    pages.row(page, uid).locator("input.row-check").uncheck()
    assert not toolbar.locator(".action-delete").first.is_visible()


def test_bulk_delete_read_star_and_move(rmail: RmailServer, page: Page, user: str) -> None:
    uids = rmail.append(user, [make_message(f"bulk {i}", to=user) for i in range(6)])
    pages.login(page, rmail, user)

    check_rows(page, uids[:3])
    bulk(page, "action-delete")
    assert rmail.uids(user) == uids[3:]
    assert len(rmail.uids(user, "Trash")) == 3
    assert page.locator("tr.message-row").count() == 3

    check_rows(page, uids[3:5])
    bulk(page, "action-mark-read")
    assert [("\\Seen" in rmail.flags(user, u)) for u in uids[3:]] == [True, True, False]
    assert "unread" not in pages.classes(pages.row(page, uids[3]))
    check_rows(page, uids[3:4])
    bulk(page, "action-mark-unread")
    assert "\\Seen" not in rmail.flags(user, uids[3])

    check_rows(page, uids[4:6])
    bulk(page, "action-star")
    assert all("\\Flagged" in rmail.flags(user, u) for u in uids[4:6])
    assert "flagged" in pages.classes(pages.row(page, uids[5]))

    check_rows(page, uids[3:6])
    page.locator("form.bulk-actions select[name=target]").select_option("Archive")
    bulk(page, "action-move")
    assert rmail.uids(user) == []
    assert len(rmail.uids(user, "Archive")) == 3
