"""Submission policy: sender whitelist (as in the provisioning API's spoofing whitelist),
From: checks, the 24-hour recipient counter."""

from __future__ import annotations

import time

from rmail.delivery.policy import (
    RecipientLimiter,
    check_from_header,
    check_sender,
    from_addresses,
)
from rmail.delivery.replies import (
    FROM_NOT_ALLOWED,
    NO_FROM_HEADER,
    SENDER_NOT_ALLOWED,
    SUBMISSION_DISABLED,
)
from rmail.store.accounts import Account

ALICE = Account("alice", "example.com", "x", addresses=("alice@example.com",),
                sender_whitelist=("office@example.com", "skylime.net"))


def test_whitelist_from_the_provisioning_example() -> None:
    for ok in ("alice@example.com", "office@example.com", "someone@skylime.net",
               "ALICE@Example.COM"):
        assert check_sender(ALICE, ok) is None, ok
    for bad in ("bob@example.com", "anyone@frubar.net", "", "not-an-address"):
        assert check_sender(ALICE, bad) == SENDER_NOT_ALLOWED, bad


def test_wildcard_and_domain_forms() -> None:
    anyone = Account("a", "example.com", "x", sender_whitelist=("*",))
    assert check_sender(anyone, "ceo@bank.example") is None
    at_domain = Account("a", "example.com", "x", sender_whitelist=("@lists.example",))
    assert check_sender(at_domain, "x@lists.example") is None
    assert check_sender(at_domain, "x@sub.lists.example") == SENDER_NOT_ALLOWED


def test_submission_disabled() -> None:
    off = Account("alice", "example.com", "x", addresses=("alice@example.com",),
                  submission_enabled=False)
    assert check_sender(off, "alice@example.com") == SUBMISSION_DISABLED


def test_from_header() -> None:
    def msg(*froms: str) -> bytes:
        return b"".join(f"From: {f}\r\n".encode() for f in froms) + b"Subject: s\r\n\r\nFrom: x\r\n"

    assert from_addresses(msg("Alice <alice@example.com>")) == ["alice@example.com"]
    assert check_from_header(ALICE, msg("Alice <alice@example.com>")) is None
    assert check_from_header(ALICE, msg('"Office" <office@example.com>, x@skylime.net')) is None
    refusal = check_from_header(ALICE, msg("alice@example.com, Bob <bob@example.com>"))
    assert refusal is not None and refusal.code == FROM_NOT_ALLOWED.code
    assert "bob@example.com" in refusal.text
    assert check_from_header(ALICE, b"Subject: none\r\n\r\nFrom: alice@example.com\r\n") == \
        NO_FROM_HEADER


def test_recipient_limiter_window() -> None:
    account = Account("alice", "example.com", "x", recipients_per_day=10)
    limiter = RecipientLimiter(window=0.2)
    assert limiter.remaining(account) == 10
    limiter.record(account, 7)
    limiter.record(account, 2)
    assert limiter.remaining(account) == 1
    time.sleep(0.25)
    assert limiter.remaining(account) == 10
