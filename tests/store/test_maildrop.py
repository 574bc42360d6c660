"""What the store does for POP3: sizes with CRLF line ends kept in the index, the maildrop
lock, and `settle` (mark seen, move to Trash, as one change)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmail.store.errors import Conflict
from rmail.store.mailbox import Folder, MailStore, UserMailbox

from .conftest import DOMAIN, USER, message, reopen

LF = b"Subject: bare\n\nline one\nline two\r\nmixed\nno line end"
WIRE = len(LF.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")) + 2


def test_wire_size_only_for_bare_lf_messages(inbox: Folder, mail_root: Path) -> None:
    crlf = inbox.append(message(1)).uid
    lf = inbox.append(LF).uid
    idx = inbox.index()
    assert idx.wire == {lf: WIRE}
    assert idx.wire_sizes().tolist() == [len(message(1)), WIRE]
    assert reopen(mail_root, inbox).index().wire == {lf: WIRE}  # replayed from the journal
    inbox.compact()
    assert reopen(mail_root, inbox).index().wire == {lf: WIRE}  # kept in the snapshot
    inbox.expunge([lf])
    assert inbox.index().wire == {}
    inbox.compact()
    assert reopen(mail_root, inbox).index().wire_sizes().tolist() == [len(message(1))]
    assert crlf


def test_wire_size_follows_copies(inbox: Folder, mailbox: UserMailbox) -> None:
    uid = inbox.append(LF).uid
    archive = mailbox.folder("Archive")
    [(_, new)] = inbox.copy([uid], archive)
    assert archive.index().wire == {new: WIRE}


def test_maildrop_lock_is_exclusive(mailbox: UserMailbox, mail_root: Path) -> None:
    held = mailbox.lock_maildrop()
    assert held is not None
    other = MailStore(mail_root).mailbox(DOMAIN, USER)  # another process, as far as flock goes
    assert other.lock_maildrop() is None
    assert mailbox.lock_maildrop() is None  # a second session of the same process too
    held.release()
    held.release()  # idempotent
    again = other.lock_maildrop()
    assert again is not None
    again.release()


def test_settle_marks_seen_and_moves_to_trash(inbox: Folder, mailbox: UserMailbox) -> None:
    uids = [inbox.append(message(i)).uid for i in range(1, 5)]
    trash = mailbox.special_folder("\\Trash", "Trash")
    before = inbox.index().highestmodseq
    seen, gone = inbox.settle([uids[0], uids[1]], [uids[1], uids[2]], trash)
    assert (seen, gone) == ([uids[0]], [uids[1], uids[2]])
    idx = inbox.index()
    assert idx.highestmodseq == before + 2  # one flag change and one expunge, one write
    assert idx.uids.tolist() == [uids[0], uids[3]]
    assert inbox.record(uids[0]).flags == ("\\Seen",)
    moved = trash.uids()
    assert [trash.read_message(u) for u in moved] == [message(2), message(3)]
    assert all(trash.record(u).flags == ("\\Seen",) for u in moved)
    assert inbox.settle([uids[1]], [uids[2]], trash) == ([], [])  # already gone: skipped


def test_settle_refuses_moving_into_itself(inbox: Folder) -> None:
    uid = inbox.append(message(1)).uid
    with pytest.raises(Conflict):
        inbox.settle([], [uid], inbox)


def test_special_folder_recreated(mailbox: UserMailbox) -> None:
    mailbox.delete_folder("Trash")
    trash = mailbox.special_folder("\\Trash", "Trash")
    assert trash.name == "Trash"
    assert mailbox.folder_by_special_use("\\Trash") is not None
    assert mailbox.special_folder("\\Trash", "Trash").id == trash.id
