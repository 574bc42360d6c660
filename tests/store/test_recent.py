"""The recent floor of a folder (`Folder.claim_recent`): each message is claimed once, by the
first caller told about it, in any process; the floor is on disk, so what nobody claimed is
still recent after a restart (as in Dovecot), and a folder older than the floor file starts
with nothing recent."""

from __future__ import annotations

from pathlib import Path

from rmail.store.mailbox import MailStore

from .conftest import DOMAIN, USER, message


def test_each_message_is_claimed_once(store: MailStore) -> None:
    inbox = store.mailbox(DOMAIN, USER).folder("INBOX")
    for i in range(1, 4):
        inbox.append(message(i))
    assert inbox.unclaimed_recent() == 3
    assert inbox.claim_recent([1, 2]) == [1, 2]
    assert inbox.unclaimed_recent() == 1
    assert inbox.claim_recent([1, 2, 3]) == [3]
    assert inbox.claim_recent([1, 2, 3]) == []
    assert inbox.claim_recent([]) == []
    inbox.append(message(4))
    inbox.append(message(5))
    inbox.expunge([4])  # never claimed, gone: the next claim starts past it
    assert inbox.unclaimed_recent() == 1
    assert inbox.claim_recent([5]) == [5]
    assert inbox.unclaimed_recent() == 0


def test_unclaimed_messages_stay_recent_after_a_restart(store: MailStore,
                                                         mail_root: Path) -> None:
    inbox = store.mailbox(DOMAIN, USER).folder("INBOX")
    inbox.append(message(1))
    inbox.append(message(2))
    assert inbox.claim_recent([1]) == [1]
    restarted = MailStore(mail_root).mailbox(DOMAIN, USER).folder("INBOX")
    assert restarted.unclaimed_recent() == 1
    assert restarted.claim_recent([1, 2]) == [2]
    assert inbox.claim_recent([1, 2]) == []


def test_two_processes_claim_each_message_once(store: MailStore, mail_root: Path) -> None:
    """Two MailStores stand for two workers: each has its own in-memory index."""
    other = MailStore(mail_root).mailbox(DOMAIN, USER).folder("INBOX")
    inbox = store.mailbox(DOMAIN, USER).folder("INBOX")
    assert other.claim_recent(other.uids()) == []  # read before any delivery
    for i in range(1, 4):
        other.append(message(i))  # delivered by "the other process"
    assert inbox.claim_recent(inbox.uids()) == [1, 2, 3]
    assert other.claim_recent(other.uids()) == []
    inbox.append(message(4))
    assert other.claim_recent(other.uids()) == [4]
    assert inbox.claim_recent(inbox.uids()) == []


def test_a_folder_without_a_floor_file_starts_with_nothing_recent(
        store: MailStore, mail_root: Path) -> None:
    inbox = store.mailbox(DOMAIN, USER).folder("INBOX")
    inbox.append(message(1))
    inbox.layout.recent.unlink()  # a folder made before the floor existed
    upgraded = MailStore(mail_root).mailbox(DOMAIN, USER).folder("INBOX")
    assert upgraded.unclaimed_recent() == 0
    assert upgraded.claim_recent([1]) == []
    upgraded.append(message(2))
    assert upgraded.claim_recent([1, 2]) == [2]


def test_a_new_folder_starts_with_everything_recent(store: MailStore) -> None:
    folder = store.mailbox(DOMAIN, USER).create_folder("work")
    folder.append(message(1))
    assert folder.claim_recent(folder.uids()) == [1]
