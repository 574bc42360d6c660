"""COPY, MOVE, EXPUNGE, UID EXPUNGE and UIDPLUS response codes."""

from __future__ import annotations

from tests.imap.conftest import ImapServer, message
from tests.imap.test_fetch import selected


def test_copy_with_copyuid(imap: ImapServer) -> None:
    c = selected(imap, message(1), message(2), message(3))
    imap.folder().store_flags([2], "add", ["\\Flagged"])
    archive = imap.folder("Archive")
    v = archive.status().uidvalidity
    assert c.cmd(b"a", b"COPY 2:3 Archive") == [
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))",
        b"a OK [COPYUID %d 2:3 1:2] COPY completed" % v]
    assert [r.flags for r in archive.records(newest_first=False)] == [("\\Flagged",), ()]
    assert archive.read_message(1) == message(2)
    assert c.cmd(b"b", b"UID COPY 1,3 Archive") == [
        b"b OK [COPYUID %d 1,3 3:4] UID COPY completed" % v]
    assert c.cmd(b"c", b"COPY 1 Nowhere") == [b"c NO [TRYCREATE] no mailbox 'Nowhere'"]
    assert c.cmd(b"d", b"UID COPY 99 Archive") == [b"d OK UID COPY completed"]


def test_copy_to_selected_mailbox_reports_exists(imap: ImapServer) -> None:
    c = selected(imap, message(1))
    v = imap.folder().status().uidvalidity
    assert c.cmd(b"a", b"COPY 1 INBOX") == [b"* 2 EXISTS", b"* 2 RECENT",
                                            b"a OK [COPYUID %d 1 2] COPY completed" % v]


def test_move(imap: ImapServer) -> None:
    c = selected(imap, message(1), message(2), message(3))
    v = imap.folder("Trash").status().uidvalidity
    assert c.cmd(b"a", b"MOVE 1:2 Trash") == [
        b"* OK [COPYUID %d 1:2 1:2] Moved" % v, b"* 2 EXPUNGE", b"* 1 EXPUNGE",
        b"* 1 RECENT", b"a OK MOVE completed"]
    assert c.cmd(b"b", b"UID MOVE 3 Trash") == [
        b"* OK [COPYUID %d 3 3] Moved" % v, b"* 1 EXPUNGE", b"* 0 RECENT",
        b"b OK UID MOVE completed"]
    assert imap.folder().status().count == 0
    assert imap.folder("Trash").status().count == 3
    assert c.cmd(b"c", b"MOVE 1 Trash") == [b"c BAD message sequence number 1 does not exist"]


def test_move_with_qresync_uses_vanished(imap: ImapServer) -> None:
    imap.deliver(message(1))
    imap.deliver(message(2))
    c = selected(imap)
    c.cmd(b"x", b"UNSELECT")
    c.cmd(b"y", b"ENABLE QRESYNC")
    c.cmd(b"z", b"SELECT INBOX")
    v = imap.folder("Trash").status().uidvalidity
    assert c.cmd(b"a", b"UID MOVE 1:2 Trash") == [
        b"* OK [COPYUID %d 1:2 1:2] Moved" % v, b"* VANISHED 1:2", b"a OK UID MOVE completed"]


def test_move_errors(imap: ImapServer) -> None:
    c = selected(imap, message(1))
    c.cmd(b"b", b"EXAMINE INBOX")
    assert c.cmd(b"c", b"MOVE 1 Trash") == [b"c NO [READ-ONLY] the mailbox is read-only (EXAMINE)"]


def test_expunge(imap: ImapServer) -> None:
    c = selected(imap, *(message(i) for i in range(1, 6)))
    c.cmd(b"a", b"STORE 2,4:5 +FLAGS.SILENT (\\Deleted)")
    assert c.cmd(b"b", b"EXPUNGE") == [b"* 5 EXPUNGE", b"* 4 EXPUNGE", b"* 2 EXPUNGE",
                                       b"* 2 RECENT", b"b OK EXPUNGE completed"]
    assert c.cmd(b"c", b"FETCH 1:* (UID)") == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 3)",
                                               b"c OK FETCH completed"]
    assert c.cmd(b"d", b"EXPUNGE") == [b"d OK EXPUNGE completed"]


def test_uid_expunge(imap: ImapServer) -> None:
    c = selected(imap, *(message(i) for i in range(1, 5)))
    c.cmd(b"a", b"STORE 1:4 +FLAGS.SILENT (\\Deleted)")
    assert c.cmd(b"b", b"UID EXPUNGE 2:3") == [b"* 3 EXPUNGE", b"* 2 EXPUNGE", b"* 2 RECENT",
                                               b"b OK UID EXPUNGE completed"]
    assert imap.folder().uids() == [1, 4]
    c.cmd(b"c", b"STORE 1 -FLAGS.SILENT (\\Deleted)")
    assert c.cmd(b"d", b"UID EXPUNGE 1:*") == [b"* 2 EXPUNGE", b"* 1 RECENT",
                                               b"d OK UID EXPUNGE completed"]
    assert imap.folder().uids() == [1]


def test_imaplib_copy_move_expunge(imap: ImapServer) -> None:
    for i in range(3):
        imap.deliver(message(i))
    c = imap.login()
    c.select("INBOX")
    assert c.copy("1", "Archive")[0] == "OK"
    typ, data = c._simple_command("MOVE", "2", "Trash")  # type: ignore[attr-defined]
    assert typ == "OK"
    c.store("1", "+FLAGS", "\\Deleted")
    typ, data = c.expunge()
    assert typ == "OK" and data[-1] == b"1"
    assert imap.folder().status().count == 1
