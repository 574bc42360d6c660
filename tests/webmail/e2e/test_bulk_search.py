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
def test_search_folder_and_all(rmail: RmailServer, page: Page, user: str, shots) -> None:
    inbox = rmail.append(user, [make_message("pineapple order", to=user),
                                make_message("other things", to=user),
                                make_message("lunch", to=user, body="bring a pineapple")])
    (archived,) = rmail.append(user, [make_message("old pineapple news", to=user)],
                               folder="Archive")
    pages.login(page, rmail, user)
    form = page.locator("form.search-form")
    assert (form.get_attribute("action") or "") == rmail.url("/webmail/search")

    def search(scope: str) -> list[tuple[str | None, int]]:
        form = page.locator("form.search-form")
        form.locator("[name=q]").fill("pineapple")
        choice = form.locator("[name=scope]")
        if choice.first.evaluate("el => el.tagName.toLowerCase()") == "select":
            choice.select_option(scope)
        else:
            form.locator(f"[name=scope][value={scope}]").check()
        with page.expect_navigation():
            form.locator("[name=q]").press("Enter")
        pages.assert_stays(page, "the search results page")
        return [(r.get_attribute("data-folder"), int(r.get_attribute("data-uid") or 0))
                for r in page.locator("section.message-list tr.message-row").all()]

    assert sorted(search("folder")) == sorted([("INBOX", inbox[0]), ("INBOX", inbox[2])])
    shots(page, "search")
    assert sorted(search("all"), key=str) == sorted(
        [("INBOX", inbox[0]), ("INBOX", inbox[2]), ("Archive", archived)], key=str)
    link = page.locator(f'tr.message-row[data-folder="Archive"][data-uid="{archived}"] '
                        "a.message-link")
    assert link.get_attribute("href") == rmail.url(f"/webmail/message/Archive/{archived}")
    with page.expect_navigation():
        link.click()
    assert page.locator(f'article.msg-detail[data-folder="Archive"][data-uid="{archived}"]'
                        ).count() == 1


def test_search_reads_the_full_text_index(rmail: RmailServer, page: Page, user: str,
                                          shots) -> None:
    """Words deep in a message's text and in a text attachment, the search language's
    operators, and a refused query shown as a form error, in Chromium."""
    filler = "lorem ipsum dolor " * 2000
    inbox = rmail.append(user, [
        make_message("weekly notes", to=user, body=filler + "the Kühlschrank is empty\n"),
        make_message("recipes", to=user, sender="Carol <carol@example.net>",
                     attachments=[("list.txt", "text/plain", b"buy a new kuhlschrank")]),
        make_message("unrelated", to=user)])
    pages.login(page, rmail, user)

    def search(q: str) -> list[int]:
        form = page.locator("form.search-form")
        form.locator("[name=q]").fill(q)
        with page.expect_navigation():
            form.locator("[name=q]").press("Enter")
        pages.assert_stays(page, "the search results page")
        return sorted(int(r.get_attribute("data-uid") or 0)
                      for r in page.locator("section.message-list tr.message-row").all())

    assert search("KUHLSCHRANK") == sorted(inbox[:2])
    shots(page, "search-index")
    assert search("kühlschrank from:carol") == [inbox[1]]
    assert search('"is empty"') == [inbox[0]]
    assert search("is:nonsense") == []
    assert page.locator("section.message-list .form-error").count() == 1
