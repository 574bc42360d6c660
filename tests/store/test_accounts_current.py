"""Accounts.get_current: the cached account follows every change, from any writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmail.store.accounts import Accounts
from rmail.store.errors import NotFound


def test_get_current_follows_changes(accounts: Accounts, mail_root: Path) -> None:
    accounts.create("example.com", "alice", "hash-1")
    first = accounts.get_current("example.com", "alice")
    assert first == accounts.get("example.com", "alice")
    assert accounts.get_current("Example.COM", "alice") is first  # cached: same object
    accounts.update("example.com", "alice", admin=True)
    assert accounts.get_current("example.com", "alice").admin is True
    # another writer (another Accounts, as the CLI in another process would be)
    Accounts(mail_root).update("example.com", "alice", password_hash="hash-2")
    current = accounts.get_current("example.com", "alice")
    assert current.password_hash == "hash-2"
    assert current.auth_epoch == first.auth_epoch + 1
    accounts.delete("example.com", "alice")
    with pytest.raises(NotFound):
        accounts.get_current("example.com", "alice")
    with pytest.raises(NotFound):
        accounts.get_current("example.com", "bob")


def test_address_map_follows_the_change_log_across_instances(tmp_path: Path) -> None:
    """Another process's changes (here: another `Accounts` on the same root) reach the
    address map through `accounts.changes` without a rescan, and a gap forces one."""

    reader, writer = Accounts(tmp_path), Accounts(tmp_path)
    writer.create("example.com", "alice", "x")
    assert reader.find_address("alice@example.com") == ("example.com", "alice")
    scans = []
    original = reader._scan_all
    reader._scan_all = lambda: scans.append(1) or original()  # type: ignore[method-assign]
    writer.create("example.com", "bob", "x", addresses=["b@example.com"])
    writer.set_alias("example.com", "team", "alice,bob")
    writer.update("example.com", "alice", addresses=["al@example.com"])
    assert reader.find_address("b@example.com") == ("example.com", "bob")
    assert reader.find_address("al@example.com") == ("example.com", "alice")
    assert reader.resolve("team@example.com").users == (("example.com", "alice"),
                                                        ("example.com", "bob"))
    writer.update("example.com", "alice", addresses=[])
    writer.delete("example.com", "bob")
    assert reader.find_address("al@example.com") is None
    assert reader.find_address("b@example.com") is None
    assert reader.find_address("bob@example.com") is None
    writer.add_domain("other.example")
    writer.create("other.example", "carol", "x")
    assert reader.find_address("carol@other.example") == ("other.example", "carol")
    writer.delete_domain("other.example", force=True)
    assert reader.find_address("carol@other.example") is None
    assert not reader.has_domain("other.example")
    assert scans == []
    # an unknown change ("N *") or a log started afresh sends the reader to a rescan
    writer._bump()
    assert reader.find_address("alice@example.com") == ("example.com", "alice")
    assert len(scans) == 1
    (tmp_path / "accounts.changes").unlink()
    writer.create("example.com", "dave", "x")
    assert reader.find_address("dave@example.com") == ("example.com", "dave")
    assert len(scans) == 2


def test_pinned_generation_is_read_once_per_thread(tmp_path: Path) -> None:
    """Inside `pinned` a thread answers from the account cache as of the pin (a delivery
    batch); the change another writer made meanwhile is seen once the pin ends, and other
    threads never see the pin at all."""
    import threading

    reader, writer = Accounts(tmp_path), Accounts(tmp_path)
    writer.create("example.com", "alice", "x")
    with reader.pinned():
        pinned = reader.generation()
        assert reader.find_address("alice@example.com") == ("example.com", "alice")
        writer.delete("example.com", "alice")
        assert reader.generation() == pinned
        with reader.pinned():  # nested: the outer pin holds
            assert reader.generation() == pinned
        seen: list[object] = []
        other = threading.Thread(target=lambda: seen.append(reader.generation()))
        other.start()
        other.join()
        assert seen[0] != pinned  # another thread reads the file
        assert reader.find_address("alice@example.com") == ("example.com", "alice")
    assert reader.generation() != pinned
    assert reader.find_address("alice@example.com") is None
