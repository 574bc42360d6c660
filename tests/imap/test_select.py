"""SELECT and EXAMINE, with CONDSTORE and QRESYNC (RFC 7162), UNSELECT, CLOSE."""

from __future__ import annotations

from tests.imap.conftest import ImapServer, message
from tests.imap.test_mailboxes import logged_in

FLAGS = b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
PERMANENT = b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] " \
            b"Flags permitted"


def test_select_exact_response(imap: ImapServer) -> None:
    imap.deliver(message(1), flags=("\\Seen",))
    imap.deliver(message(2), flags=("$Work",))
    v = imap.folder().status().uidvalidity
    c = logged_in(imap)
    assert c.cmd(b"a", b"SELECT INBOX") == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] "
        b"Flags permitted",
        b"* 2 EXISTS", b"* 2 RECENT", b"* OK [UNSEEN 2] First unseen",
        b"* OK [UIDVALIDITY %d] UIDs valid" % v, b"* OK [UIDNEXT 3] Predicted next UID",
        b"* OK [MAILBOXID (%s)] Ok" % imap.folder().mailbox_id().encode(),  # RFC 8474
        b"* OK [HIGHESTMODSEQ 2] Highest", b"a OK [READ-WRITE] SELECT completed"]


def test_examine_is_read_only(imap: ImapServer) -> None:
    imap.deliver(message(1))
    c = logged_in(imap)
    lines = c.cmd(b"a", b"EXAMINE INBOX")
    assert b"* OK [PERMANENTFLAGS ()] Flags permitted" in lines
    assert lines[-1] == b"a OK [READ-ONLY] EXAMINE completed"
    assert c.cmd(b"b", b"STORE 1 +FLAGS (\\Seen)") == [
        b"b NO [READ-ONLY] the mailbox is read-only (EXAMINE)"]
    assert c.cmd(b"c", b"FETCH 1 BODY[]")[0].startswith(b"* 1 FETCH (BODY[] {")
    assert imap.folder().record(1).flags == ()  # no implicit \Seen under EXAMINE
    assert c.cmd(b"d", b"EXPUNGE") == [b"d NO [READ-ONLY] the mailbox is read-only (EXAMINE)"]


def test_select_missing_leaves_authenticated(imap: ImapServer) -> None:
    c = logged_in(imap)
    c.cmd(b"a", b"SELECT INBOX")
    assert c.cmd(b"b", b"SELECT nothere")[0].startswith(b"b NO [NONEXISTENT]")
    assert c.cmd(b"c", b"FETCH 1 FLAGS") == [
        b"c BAD FETCH is not allowed in the authenticated state"]


def test_unselect_and_close(imap: ImapServer) -> None:
    imap.deliver(message(1), flags=("\\Deleted",))
    imap.deliver(message(2))
    c = logged_in(imap)
    c.cmd(b"a", b"EXAMINE INBOX")
    assert c.cmd(b"b", b"CLOSE") == [b"b OK CLOSE completed"]
    assert imap.folder().status().count == 2  # CLOSE of EXAMINE does not expunge
    c.cmd(b"c", b"SELECT INBOX")
    assert c.cmd(b"d", b"UNSELECT") == [b"d OK UNSELECT completed"]
    assert imap.folder().status().count == 2
    c.cmd(b"e", b"SELECT INBOX")
    assert c.cmd(b"f", b"CLOSE") == [b"f OK CLOSE completed"]  # silently, no EXPUNGE
    assert imap.folder().status().count == 1
    assert c.cmd(b"g", b"CLOSE") == [b"g BAD CLOSE is not allowed in the authenticated state"]


def test_condstore_select(imap: ImapServer) -> None:
    imap.deliver(message(1))
    c = logged_in(imap)
    lines = c.cmd(b"a", b"SELECT INBOX (CONDSTORE)")
    assert b"* OK [HIGHESTMODSEQ 1] Highest" in lines
    assert c.cmd(b"b", b"FETCH 1 (FLAGS)") == [b"* 1 FETCH (UID 1 FLAGS (\\Recent) MODSEQ (1))",
                                               b"b OK FETCH completed"]


def test_qresync_select(imap: ImapServer) -> None:
    for i in range(1, 6):
        imap.deliver(message(i))
    folder = imap.folder()
    v = folder.status().uidvalidity
    modseq = folder.status().highestmodseq  # 5
    folder.store_flags([2], "add", ["\\Flagged"])  # modseq 6
    folder.expunge([4])  # modseq 7
    c = logged_in(imap)
    assert c.cmd(b"a", b"SELECT INBOX (QRESYNC (%d %d))" % (v, modseq)) == [
        b"a NO [CLIENTBUG] QRESYNC must be enabled first"]
    c.cmd(b"b", b"ENABLE QRESYNC")
    lines = c.cmd(b"c", b"SELECT INBOX (QRESYNC (%d %d 1:5))" % (v, modseq))
    assert lines[-4:] == [b"* OK [HIGHESTMODSEQ 7] Highest", b"* VANISHED (EARLIER) 4",
                          b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ (6))",
                          b"c OK [READ-WRITE] SELECT completed"]
    # selecting again closes the previous mailbox first
    lines = c.cmd(b"d", b"SELECT INBOX (QRESYNC (%d 7))" % v)
    assert lines[0] == b"* OK [CLOSED] Previous mailbox is now closed"
    assert lines[-2:] == [b"* OK [HIGHESTMODSEQ 7] Highest", b"d OK [READ-WRITE] SELECT completed"]
    # a different UIDVALIDITY: no resync data
    lines = c.cmd(b"e", b"SELECT INBOX (QRESYNC (%d 1))" % (v + 1))
    assert not any(b"VANISHED" in x or b"FETCH" in x for x in lines)


def test_qresync_fetch_vanished(imap: ImapServer) -> None:
    for i in range(1, 6):
        imap.deliver(message(i))
    folder = imap.folder()
    folder.expunge([2, 3])
    folder.store_flags([5], "add", ["\\Seen"])
    c = logged_in(imap)
    c.cmd(b"a", b"ENABLE QRESYNC")
    c.cmd(b"b", b"SELECT INBOX")
    assert c.cmd(b"c", b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)") == [
        b"* VANISHED (EARLIER) 2:3", b"* 3 FETCH (UID 5 FLAGS (\\Seen \\Recent) MODSEQ (7))",
        b"c OK UID FETCH completed"]
    assert c.cmd(b"d", b"FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)")[0].startswith(b"d BAD")


def test_rev2_select(imap: ImapServer) -> None:
    imap.deliver(message(1))
    c = logged_in(imap)
    assert c.cmd(b"a", b"ENABLE IMAP4rev2") == [b"* ENABLED IMAP4rev2", b"a OK ENABLE completed"]
    lines = c.cmd(b"b", b"SELECT inbox")
    assert b"* 0 RECENT" not in lines and not any(b"UNSEEN" in x for x in lines)
    assert b'* LIST () "/" "INBOX"' in lines
    assert c.cmd(b"c", b"SEARCH ALL") == [b'* ESEARCH (TAG "c") ALL 1', b"c OK SEARCH completed"]
    # mailbox names are UTF-8, "&" is just a character
    assert c.cmd(b"d", 'CREATE "Grüße & more"'.encode())[0].startswith(b"d OK [MAILBOXID (")
    assert c.cmd(b"e", b'LIST "" "Gr*"') == [
        '* LIST (\\HasNoChildren) "/" "Grüße & more"'.encode(), b"e OK LIST completed"]
    assert c.cmd(b"f", 'STATUS "Grüße & more" (MESSAGES SIZE DELETED)'.encode()) == [
        '* STATUS "Grüße & more" (MESSAGES 0 SIZE 0 DELETED 0)'.encode(),
        b"f OK STATUS completed"]
    lines = c.cmd(b"g", b"EXAMINE INBOX")
    assert lines[0] == b"* OK [CLOSED] Previous mailbox is now closed"
    assert lines[-1] == b"g OK [READ-ONLY] EXAMINE completed"
