"""Fixtures for the storage core: a real mail root on `tmp_path`, one user with default folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmail.store.accounts import Accounts
from rmail.store.mailbox import REAPER, Folder, MailStore, UserMailbox

DOMAIN = "example.com"
USER = "alice"


def message(n: int, body: bytes = b"hello") -> bytes:
    """A small, distinct, well-formed message."""
    return (f"From: sender{n}@example.org\r\nTo: {USER}@{DOMAIN}\r\n"
            f"Subject: message {n}\r\nMessage-ID: <{n}@example.org>\r\n\r\n").encode() + \
        body + b"\r\n"


@pytest.fixture
def mail_root(tmp_path: Path) -> Path:
    return tmp_path / "mailstore"


@pytest.fixture
def accounts(mail_root: Path) -> Accounts:
    return Accounts(mail_root)


@pytest.fixture
def store(mail_root: Path, accounts: Accounts) -> MailStore:
    """A MailStore with user alice@example.com (the password hash is never verified here)."""
    accounts.create(DOMAIN, USER, "not-a-real-hash")
    return MailStore(mail_root)


@pytest.fixture
def mailbox(store: MailStore) -> UserMailbox:
    return store.mailbox(DOMAIN, USER)


@pytest.fixture
def inbox(mailbox: UserMailbox) -> Folder:
    return mailbox.folder("INBOX")


@pytest.fixture(autouse=True)
def _drain_reaper() -> object:
    """Expunged files are deleted by a background thread; let it finish before tmp_path goes."""
    yield
    REAPER.flush()


def reopen(mail_root: Path, folder: Folder) -> Folder:
    """The same folder read by a fresh MailStore, as another process or a restart sees it."""
    return MailStore(mail_root).mailbox(DOMAIN, USER).folder(folder.name)


def state(folder: Folder) -> dict[str, object]:
    """Everything the index says about a folder, comparable with ==."""
    st = folder.status()
    idx = folder.index()
    return {"status": st,
            "records": [idx.record_at(i) for i in range(len(idx))],
            "vanished": idx.vanished_since(0)}
