"""Submission policy: sender whitelist (as in the provisioning API's spoofing whitelist),
From: checks, the 24-hour recipient counter."""

from __future__ import annotations

import time
from pathlib import Path

from rmail.delivery.policy import (
    DAY,
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
from rmail.store.layout import Layout
from rmail.store.sendlog import REWRITE_AFTER

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


def test_recipient_window_survives_a_restart(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    account = Account("alice", "example.com", "x", recipients_per_day=10)
    layout.user_dir("example.com", "alice").mkdir(parents=True)
    first = RecipientLimiter(layout=layout)
    first.record(account, 4)
    first.record(account, 3)
    again = RecipientLimiter(layout=layout)  # a new process reads the same store
    assert again.remaining(account) == 3
    again.record(account, 3)
    assert RecipientLimiter(layout=layout).remaining(account) == 0


def test_recipient_window_forgets_old_entries_and_torn_lines(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    account = Account("alice", "example.com", "x", recipients_per_day=10)
    udir = layout.user_dir("example.com", "alice")
    udir.mkdir(parents=True)
    now = time.time()
    (udir / "sent.log").write_bytes(
        f"{now - 2 * DAY:.3f} 9\n{now - 10:.3f} 2\nnot a line\n{now - 5:.3f} 1\n{now:.3f} 4"
        .encode())  # the last line lost its newline in a crash: still a whole entry
    assert RecipientLimiter(layout=layout).remaining(account) == 3


def test_recipient_log_is_compacted(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    account = Account("alice", "example.com", "x", recipients_per_day=10**6)
    udir = layout.user_dir("example.com", "alice")
    udir.mkdir(parents=True)
    old = time.time() - 2 * DAY
    (udir / "sent.log").write_bytes(
        "".join(f"{old + i:.3f} 1\n" for i in range(REWRITE_AFTER + 5)).encode())
    limiter = RecipientLimiter(layout=layout)
    limiter.record(account, 2)
    assert (udir / "sent.log").read_bytes().count(b"\n") == 1
    assert RecipientLimiter(layout=layout).remaining(account) == 10**6 - 2


def test_recipient_log_of_a_deleted_user_is_not_recreated(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    account = Account("ghost", "example.com", "x", recipients_per_day=10)
    RecipientLimiter(layout=layout).record(account, 1)  # no user directory: nothing written
    assert not layout.user_dir("example.com", "ghost").exists()
