"""The recent floor of a folder (`Folder.claim_recent`): each message is claimed once, by the
first caller told about it; what was in the folder when this process first read it (after a
restart) is not recent."""

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


def test_nothing_is_recent_after_a_restart(store: MailStore, mail_root: Path) -> None:
    inbox = store.mailbox(DOMAIN, USER).folder("INBOX")
    inbox.append(message(1))
    restarted = MailStore(mail_root).mailbox(DOMAIN, USER).folder("INBOX")
    assert restarted.unclaimed_recent() == 0
    assert restarted.claim_recent([1]) == []
    restarted.append(message(2))
    assert restarted.claim_recent([1, 2]) == [2]


def test_a_new_folder_starts_with_everything_recent(store: MailStore) -> None:
    folder = store.mailbox(DOMAIN, USER).create_folder("work")
    folder.append(message(1))
    assert folder.claim_recent(folder.uids()) == [1]
