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
