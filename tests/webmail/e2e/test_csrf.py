"""CSRF: every POST form carries a hidden `csrf`; a POST whose token is missing or wrong is
refused with 403 and changes nothing, while the same POST with the page's token works (so the
refusals are the token's doing, not a malformed request)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.webmail.e2e import pages
from tests.webmail.e2e.server import RmailServer, make_message

if TYPE_CHECKING:
    from playwright.sync_api import Page

Tokens = Callable[[dict[str, str]], dict[str, str]]
MISSING: Tokens = lambda hidden: {k: v for k, v in hidden.items() if k != "csrf"}  # noqa: E731
WRONG: Tokens = lambda hidden: {**hidden, "csrf": "0" * len(hidden["csrf"])}  # noqa: E731
OTHER: Tokens = lambda hidden: {**hidden, "csrf": hidden["csrf"][::-1]}  # noqa: E731


def post(page: Page, form: dict[str, Any], fields: dict[str, str]) -> int:
    response = page.context.request.post(form["action"], form=fields, max_redirects=0)
    return response.status


def every_post_form_has_a_token(page: Page) -> None:
    forms = page.locator("form").all()
    for form in forms:
        info = pages.form_fields(form)
        if info["method"] == "post":
            assert info["hidden"].get("csrf"), info


@pytest.mark.parametrize("tamper", [MISSING, WRONG, OTHER], ids=["missing", "wrong", "other"])
def test_detail_actions_refuse_bad_tokens(rmail: RmailServer, page: Page, user: str,
                                          tamper: Tokens) -> None:
    (uid,) = rmail.append(user, [make_message("Guarded", to=user)])
    pages.login(page, rmail, user)
    every_post_form_has_a_token(page)
    pages.open_message(page, uid)
    every_post_form_has_a_token(page)
    flags = rmail.flags(user, uid)

    star = pages.form_fields(pages.form_of(page, "action-toggle-star"))
    assert post(page, star, tamper(star["hidden"])) == 403
    move = pages.form_fields(pages.form_of(page, "action-move"))
    assert post(page, move, {**tamper(move["hidden"]), "target": "Archive"}) == 403
    delete = pages.form_fields(pages.form_of(page, "action-delete"))
    assert post(page, delete, tamper(delete["hidden"])) == 403
    assert rmail.uids(user) == [uid]
    assert rmail.flags(user, uid) == flags
    assert rmail.uids(user, "Trash") == rmail.uids(user, "Archive") == []

    assert post(page, star, star["hidden"]) in (200, 303)
    assert "\\Flagged" in rmail.flags(user, uid)


@pytest.mark.parametrize("tamper", [MISSING, WRONG], ids=["missing", "wrong"])
def test_bulk_compose_logout_refuse_bad_tokens(rmail: RmailServer, page: Page, user: str,
                                               tamper: Tokens) -> None:
    friend = rmail.add_user()
    (uid,) = rmail.append(user, [make_message("Keep me", to=user)])
    pages.login(page, rmail, user)

    bulk = pages.form_fields(page.locator("form.bulk-actions"))
    assert post(page, bulk, {**tamper(bulk["hidden"]), "msg": f"INBOX/{uid}",
                             "action": "delete"}) == 403
    assert rmail.uids(user) == [uid]

    with page.expect_navigation():
        page.locator("aside.sidebar .action-compose").first.click()
    every_post_form_has_a_token(page)
    compose = pages.form_fields(page.locator("form.compose-form"))
    assert post(page, compose, {**tamper(compose["hidden"]), "to": friend,
                                "subject": "forged", "body": "forged"}) == 403
    assert rmail.messages(friend) == []
    assert rmail.messages(user, "Sent") == []

    logout = pages.form_fields(pages.form_of(page, "action-logout", scope="body"))
    assert post(page, logout, tamper(logout["hidden"])) == 403
    page.goto(rmail.url("/webmail/INBOX"))
    assert page.url == rmail.url("/webmail/INBOX"), "a forged logout ended the session"


def test_settings_forms_carry_tokens(rmail: RmailServer, page: Page, user: str) -> None:
    pages.login(page, rmail, user)
    with page.expect_navigation():
        settings = rmail.url("/webmail/settings")
        page.locator(f"aside.sidebar a[href^='{settings}']").first.click()
    every_post_form_has_a_token(page)
    forms = [pages.form_fields(f) for f in page.locator("main.content form").all()]
    posts = [f for f in forms if f["method"] == "post"]
    assert posts
    for form in posts:
        assert post(page, form, MISSING(form["hidden"])) == 403, form["action"]
