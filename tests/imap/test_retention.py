"""Retention: the sweeper with a fake clock (an injected clock over the real store) expunges
what expired, never early, at most a batch per run, and an IMAP client sees EXPUNGE."""

from __future__ import annotations

import imaplib
import time

from rmail.store.retention import SPECIAL_CAP_MS, RetentionStore
from tests.imap.conftest import DOMAIN, USER, ImapServer, StartImap, message

HOUR = 3600.0
DAY = 86400.0
T0 = 1_900_000_000.0
USERS = [(DOMAIN, USER)]


def expunged(client: imaplib.IMAP4) -> list[bytes]:
    client.noop()
    return [r for r in client.untagged_responses.pop("EXPUNGE", []) if r is not None]


def test_user_retention_expunges_on_time_and_imap_sees_it(imap: ImapServer) -> None:
    now = [T0]
    store = RetentionStore(imap.core.mail, clock=lambda: now[0])
    before = imap.deliver(message(1))  # arrived before the setting: kept forever
    store.set_user_retention(DOMAIN, USER, int(HOUR * 1000))
    for n in (2, 3, 4):
        imap.deliver(message(n))
    client = imap.login()
    typ, data = client.select("INBOX")
    assert typ == "OK" and data == [b"4"]

    now[0] = T0 + 10
    assert store.sweep(USERS, 100).expunged == 0  # the first sweep only bounds arrival
    assert store.sweep(USERS, 100, now=T0 + 10 + HOUR - 1).expunged == 0  # never early
    result = store.sweep(USERS, 100, now=T0 + 10 + HOUR)
    assert result.expunged == 3 and result.complete
    assert imap.folder().uids() == [before]
    seen = expunged(client)  # sequence numbers, in an order the server chooses (RFC 9051 §7.5.1)
    assert seen in ([b"4", b"3", b"2"], [b"2", b"2", b"2"])
    typ, data = client.uid("SEARCH", "ALL")
    assert typ == "OK" and data == [str(before).encode()]
    client.logout()


def test_trash_and_junk_keep_at_most_30_days(imap: ImapServer) -> None:
    store = RetentionStore(imap.core.mail)
    imap.deliver(message(1), folder="Trash")
    imap.deliver(message(2), folder="Junk")
    kept = imap.deliver(message(3), folder="Archive")  # no setting, not capped: kept
    assert store.sweep(USERS, 100, now=T0).expunged == 0
    cap = SPECIAL_CAP_MS / 1000
    assert store.sweep(USERS, 100, now=T0 + cap - 1).expunged == 0
    assert store.sweep(USERS, 100, now=T0 + cap).expunged == 2
    assert imap.folder("Trash").uids() == [] and imap.folder("Junk").uids() == []
    assert imap.folder("Archive").uids() == [kept]


def test_mailbox_retention_wins_and_applies_to_later_mail(imap: ImapServer) -> None:
    now = [T0]
    store = RetentionStore(imap.core.mail, clock=lambda: now[0])
    archive = imap.folder("Archive")
    old = imap.deliver(message(1), folder="Archive")
    store.set_user_retention(DOMAIN, USER, int(DAY * 1000))
    store.set_mailbox_retention(DOMAIN, USER, archive, 60_000)  # a minute, for Archive
    assert store.mailbox_retention(DOMAIN, USER, archive) == 60_000
    new = imap.deliver(message(2), folder="Archive")
    inbox_uid = imap.deliver(message(3))
    store.sweep(USERS, 100, now=T0 + 1)
    assert store.sweep(USERS, 100, now=T0 + 61).expunged == 1
    assert archive.uids() == [old] and new not in archive.uids()
    assert imap.folder().uids() == [inbox_uid]  # the user's day has not passed
    assert store.sweep(USERS, 100, now=T0 + 1 + DAY).expunged == 1
    # A Trash setting beyond the cap is capped.
    trash = imap.folder("Trash")
    store.set_mailbox_retention(DOMAIN, USER, trash, int(365 * DAY * 1000))
    assert store.mailbox_retention(DOMAIN, USER, trash) == SPECIAL_CAP_MS


def test_message_expires_and_bounded_runs(imap: ImapServer) -> None:
    store = RetentionStore(imap.core.mail)
    inbox = imap.folder()
    uids = [imap.deliver(message(n)) for n in range(5)]
    store.set_expires(DOMAIN, USER, inbox, uids[0], T0 + 5)
    store.set_expires(DOMAIN, USER, inbox, uids[1], T0 + 5)
    store.set_expires(DOMAIN, USER, inbox, uids[2], T0 + 5)
    store.set_expires(DOMAIN, USER, inbox, uids[2], None)  # changed their mind
    assert store.sweep(USERS, 100, now=T0).expunged == 0
    first = store.sweep(USERS, 1, now=T0 + 5)
    assert first.expunged == 1 and not first.complete  # bounded work per run
    assert store.sweep(USERS, 1, now=T0 + 5).expunged == 1
    assert store.sweep(USERS, 1, now=T0 + 5).expunged == 0
    assert inbox.uids() == uids[2:]


def test_sweeper_runs_in_the_server(start_imap: StartImap) -> None:
    """`retention.sweep_seconds` drives the server's singleton sweeper (in the supervisor when
    there are workers): a message whose own expiry has passed goes, and IMAP sees it."""
    imap = start_imap(retention={"sweep_seconds": 1})
    store = RetentionStore(imap.core.mail)
    doomed = imap.deliver(message(1))
    kept = imap.deliver(message(2))
    store.set_expires(DOMAIN, USER, imap.folder(), doomed, time.time() - 1)
    client = imap.login()
    client.select("INBOX")
    deadline = time.monotonic() + 60
    while doomed in imap.folder().uids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert imap.folder().uids() == [kept]
    assert expunged(client) == [b"1"]
    client.logout()
