"""RENAME of the selected mailbox: the session keeps working on the same folder, under its new
name (RFC 3501 §6.3.5), whether it renamed the folder itself or another session did."""

from __future__ import annotations

from tests.imap.conftest import ImapServer, message
from tests.imap.test_mailboxes import logged_in


def test_rename_of_selected_by_another_session(imap: ImapServer) -> None:
    a, b = logged_in(imap), logged_in(imap)
    a.cmd(b"a", b"CREATE work")
    imap.deliver(message(1), folder="work")
    assert a.cmd(b"b", b"SELECT work")[-1] == b"b OK [READ-WRITE] SELECT completed"
    assert b.cmd(b"r", b"RENAME work job") == [b"r OK RENAME completed"]
    assert imap.folder("job").name == "job"
    # the selection follows the folder: new mail under the new name reaches the session
    assert b.cmd(b"p", b"APPEND job {%d+}\r\n" % len(message(2)) + message(2))[-1] \
        .startswith(b"p OK [APPENDUID")
    assert a.cmd(b"c", b"NOOP") == [b"* 2 EXISTS", b"* 2 RECENT", b"c OK NOOP completed"]
    assert a.cmd(b"d", b"UID FETCH 1:* (UID)") == [
        b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)", b"d OK UID FETCH completed"]
    assert a.cmd(b"e", b'LIST "" job RETURN (STATUS (MESSAGES UIDNEXT))') == [
        b'* LIST (\\HasNoChildren) "/" "job"', b'* STATUS "job" (MESSAGES 2 UIDNEXT 3)',
        b"e OK LIST completed"]
    # a new folder with the old name is another folder: deleting it keeps the selection
    assert a.cmd(b"f", b"CREATE work")[0].startswith(b"f OK [MAILBOXID (")
    assert a.cmd(b"g", b"DELETE work") == [b"g OK DELETE completed"]
    assert a.cmd(b"h", b"FETCH 1 (UID)") == [b"* 1 FETCH (UID 1)", b"h OK FETCH completed"]
    # deleting it under its new name closes the selection
    assert a.cmd(b"i", b"DELETE job") == [b"i OK DELETE completed"]
    assert a.cmd(b"j", b"FETCH 1 (UID)") == [
        b"j BAD FETCH is not allowed in the authenticated state"]


def test_rename_of_selected_by_itself_with_rev2(imap: ImapServer) -> None:
    c = logged_in(imap)
    c.cmd(b"a", b"ENABLE IMAP4rev2")
    c.cmd(b"b", b"CREATE old/child")
    imap.deliver(message(1), folder="old/child")
    c.cmd(b"c", b"SELECT old/child")
    assert c.cmd(b"d", b"RENAME old new") == [b"d OK RENAME completed"]
    assert imap.folder("new/child").name == "new/child"
    assert c.cmd(b"e", b"STORE 1 +FLAGS (\\Flagged)") == [
        b"* 1 FETCH (FLAGS (\\Flagged))", b"e OK STORE completed"]
    assert c.cmd(b"f", b"STATUS new/child (MESSAGES)") == [
        b'* STATUS "new/child" (MESSAGES 1)', b"f OK STATUS completed"]
    assert c.cmd(b"g", b"DELETE new/child") == [
        b"* OK [CLOSED] Previous mailbox is now closed", b"g OK DELETE completed"]


def test_rename_of_selected_inbox(imap: ImapServer) -> None:
    imap.deliver(message(1))
    c = logged_in(imap)
    c.cmd(b"a", b"SELECT INBOX")
    assert c.cmd(b"b", b"RENAME INBOX saved") == [b"b OK RENAME completed"]
    imap.deliver(message(2))  # into the new, empty INBOX: not the selected folder
    assert c.cmd(b"c", b"NOOP") == [b"c OK NOOP completed"]
    assert c.cmd(b"d", b"DELETE INBOX")[0].startswith(b"d NO [CANNOT]")
    assert c.cmd(b"e", b"FETCH 1 (UID)") == [b"* 1 FETCH (UID 1)", b"e OK FETCH completed"]
    assert c.cmd(b"f", b"DELETE saved") == [b"f OK DELETE completed"]
    assert c.cmd(b"g", b"FETCH 1 (UID)")[0].startswith(b"g BAD")
