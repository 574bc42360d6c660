"""The harness itself: the browser reaches a real `rmail serve` under both of its names, and
seeding through LMTP and through the store lands in the account's folders."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.webmail.e2e.server import RmailServer, make_message

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_browser_reaches_the_server(rmail: RmailServer, page: Page, host: str) -> None:
    response = page.goto(rmail.url("/healthz", host))
    assert response is not None and response.status == 200
    assert json.loads(page.locator("body").inner_text())["status"] == "ok"


def test_seeding_through_lmtp_and_the_store(rmail: RmailServer, user: str) -> None:
    rmail.lmtp("alice@example.net", [user], make_message("over lmtp", to=user))
    uids = rmail.append(user, [make_message("appended", to=user)], flags=["\\Seen"])
    assert len(rmail.uids(user)) == 2
    assert rmail.flags(user, uids[0]) == {"\\Seen"}
    assert b"Subject: over lmtp" in rmail.messages(user)[0]
