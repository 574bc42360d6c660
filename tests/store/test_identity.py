"""Writers don't trust a file's (inode, mtime, size) alone: inode numbers are reused and mtimes
are coarse, so the snapshot's generation is compared before UIDs are allocated; address claims
are serialised so two users can never own one address."""

from __future__ import annotations

import threading
from pathlib import Path

from rmail.store.accounts import Accounts
from rmail.store.errors import AlreadyExists
from rmail.store.mailbox import MailStore


def test_writer_reloads_when_generation_changed_behind_an_identical_stat_key(
        tmp_path: Path) -> None:
    Accounts(tmp_path).create("example.com", "bob", "x")
    stale = MailStore(tmp_path).mailbox("example.com", "bob").folder("INBOX")
    stale.append(b"Subject: 1\r\n\r\n1\r\n")
    other = MailStore(tmp_path).mailbox("example.com", "bob").folder("INBOX")
    other.append(b"Subject: 2\r\n\r\n2\r\n")
    other.compact()
    # Pretend the compacted files look exactly like the ones `stale` last read (a reused
    # inode with the same mtime and size): only the generation can tell them apart.
    with stale._mem:
        stale._snap_key = stale._stat_key(stale.layout.snapshot)
        stale._journal_key = (stale.layout.journal.stat().st_ino, 0)
    assert stale.uids() == [1]  # a reader may be briefly stale ...
    res = stale.append(b"Subject: 3\r\n\r\n3\r\n")
    assert res.uid == 3  # ... but a writer never reuses a UID
    assert stale.read_message(2) == b"Subject: 2\r\n\r\n2\r\n"
    assert MailStore(tmp_path).mailbox("example.com", "bob").folder("INBOX").uids() == [1, 2, 3]


def test_generation_survives_reopen(tmp_path: Path) -> None:
    Accounts(tmp_path).create("example.com", "bob", "x")
    f = MailStore(tmp_path).mailbox("example.com", "bob").folder("INBOX")
    f.compact()
    f.compact()
    again = MailStore(tmp_path).mailbox("example.com", "bob").folder("INBOX")
    assert again.index().generation == f.index().generation == 2


def test_concurrent_claims_of_one_address(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    accounts.add_domain("example.com")
    results: list[str] = []

    def create(name: str) -> None:
        try:
            Accounts(tmp_path).create("example.com", name, "x", addresses=["boss@example.com"])
            results.append(name)
        except AlreadyExists:
            results.append("refused")

    threads = [threading.Thread(target=create, args=(f"user{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("refused") == 5
    owner = accounts.find_address("boss@example.com")
    assert owner is not None and owner[1] in results


def test_rename_inbox_into_a_child_of_itself(tmp_path: Path) -> None:
    Accounts(tmp_path).create("example.com", "bob", "x")
    mb = MailStore(tmp_path).mailbox("example.com", "bob")
    mb.folder("INBOX").append(b"Subject: old\r\n\r\nx\r\n")
    mb.rename_folder("INBOX", "INBOX/old")
    assert mb.folder("INBOX").status().count == 0
    assert mb.folder("INBOX/old").read_message(1) == b"Subject: old\r\n\r\nx\r\n"


def test_expunge_only_deleted_decides_under_the_lock(tmp_path: Path) -> None:
    Accounts(tmp_path).create("example.com", "bob", "x")
    f = MailStore(tmp_path).mailbox("example.com", "bob").folder("INBOX")
    for i in range(4):
        f.append(b"Subject: %d\r\n\r\nx\r\n" % i, ["\\Deleted"] if i % 2 else [])
    assert f.expunge([1, 2, 3], only_deleted=True) == [2]
    assert f.uids() == [1, 3, 4]
