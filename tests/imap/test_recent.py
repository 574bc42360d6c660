"""\\Recent (RFC 3501 §2.3.2): a message is recent in exactly one session, the first SELECT
(not EXAMINE, not IMAP4rev2) after it arrived, or the first selected session told about it
when it arrives; `* n RECENT`, FETCH FLAGS, SEARCH RECENT/NEW/OLD and STATUS RECENT."""

from __future__ import annotations

from imapclient import IMAPClient

from tests.imap.conftest import PASSWORD, TIMEOUT, USER, ImapServer, message
from tests.imap.test_mailboxes import logged_in


def test_first_select_claims_examine_does_not(imap: ImapServer) -> None:
    imap.deliver(message(1))
    imap.deliver(message(2), flags=("\\Seen",))
    a, b, c = logged_in(imap), logged_in(imap), logged_in(imap)
    lines = a.cmd(b"a1", b"EXAMINE INBOX")  # counts what SELECT would take, takes nothing
    assert lines[2:4] == [b"* 2 EXISTS", b"* 2 RECENT"]
    assert a.cmd(b"a2", b"FETCH 1:* (FLAGS)") == [
        b"* 1 FETCH (FLAGS ())", b"* 2 FETCH (FLAGS (\\Seen))", b"a2 OK FETCH completed"]
    # STATUS counts unclaimed messages and claims nothing
    for tag in (b"b1", b"b2"):
        assert b.cmd(tag, b"STATUS INBOX (MESSAGES RECENT)") == [
            b'* STATUS "INBOX" (MESSAGES 2 RECENT 2)', tag + b" OK STATUS completed"]
    lines = b.cmd(b"b3", b"SELECT INBOX")
    assert lines[2:4] == [b"* 2 EXISTS", b"* 2 RECENT"]
    assert b.cmd(b"b4", b"FETCH 1:* (FLAGS)") == [
        b"* 1 FETCH (FLAGS (\\Recent))", b"* 2 FETCH (FLAGS (\\Seen \\Recent))",
        b"b4 OK FETCH completed"]
    # the selected folder's own STATUS includes what this session holds
    assert b.cmd(b"b5", b"STATUS INBOX (RECENT)") == [
        b'* STATUS "INBOX" (RECENT 2)', b"b5 OK STATUS completed"]
    assert c.cmd(b"c1", b"STATUS INBOX (RECENT)") == [
        b'* STATUS "INBOX" (RECENT 0)', b"c1 OK STATUS completed"]
    lines = c.cmd(b"c2", b"SELECT INBOX")
    assert lines[2:4] == [b"* 2 EXISTS", b"* 0 RECENT"]
    assert c.cmd(b"c3", b"SEARCH RECENT") == [b"* SEARCH", b"c3 OK SEARCH completed"]
    assert a.cmd(b"a3", b"FETCH 1 (FLAGS)") == [b"* 1 FETCH (FLAGS ())", b"a3 OK FETCH completed"]
    # closing gives them up: selecting again, they are no longer recent anywhere
    b.cmd(b"b6", b"UNSELECT")
    assert b.cmd(b"b7", b"SELECT INBOX")[2:4] == [b"* 2 EXISTS", b"* 0 RECENT"]


def test_delivery_while_selected_goes_to_the_first_session_told(imap: ImapServer) -> None:
    imap.deliver(message(1))
    a, b = logged_in(imap), logged_in(imap)
    a.cmd(b"a1", b"SELECT INBOX")  # claims UID 1
    b.cmd(b"b1", b"SELECT INBOX")
    imap.deliver(message(2))
    imap.deliver(message(3))
    assert b.cmd(b"b2", b"NOOP") == [b"* 3 EXISTS", b"* 2 RECENT", b"b2 OK NOOP completed"]
    assert a.cmd(b"a2", b"NOOP") == [b"* 3 EXISTS", b"a2 OK NOOP completed"]
    assert b.cmd(b"b3", b"UID FETCH 1:* (FLAGS)") == [
        b"* 1 FETCH (UID 1 FLAGS ())", b"* 2 FETCH (UID 2 FLAGS (\\Recent))",
        b"* 3 FETCH (UID 3 FLAGS (\\Recent))", b"b3 OK UID FETCH completed"]
    assert a.cmd(b"a3", b"UID FETCH 1:* (FLAGS)") == [
        b"* 1 FETCH (UID 1 FLAGS (\\Recent))", b"* 2 FETCH (UID 2 FLAGS ())",
        b"* 3 FETCH (UID 3 FLAGS ())", b"a3 OK UID FETCH completed"]
    # a flag change elsewhere is reported with this session's \Recent
    imap.folder().store_flags([2], "add", ["\\Flagged"])
    assert b.cmd(b"b4", b"NOOP") == [b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))",
                                     b"b4 OK NOOP completed"]
    # APPEND by the session itself: it is told first
    raw = message(4)
    lines = a.cmd(b"a4", b"APPEND INBOX {%d+}\r\n" % len(raw) + raw)
    assert lines[:3] == [b"* 2 FETCH (UID 2 FLAGS (\\Flagged))", b"* 4 EXISTS", b"* 2 RECENT"]
    assert b.cmd(b"b5", b"NOOP") == [b"* 4 EXISTS", b"b5 OK NOOP completed"]
    # expunging a recent message updates the count
    a.cmd(b"a5", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert a.cmd(b"a6", b"EXPUNGE") == [b"* 1 EXPUNGE", b"* 1 RECENT",
                                        b"a6 OK EXPUNGE completed"]


def test_idle_claims_new_mail(imap: ImapServer) -> None:
    a = logged_in(imap)
    a.cmd(b"a1", b"SELECT INBOX")
    a.send(b"i1 IDLE\r\n")
    assert a.line() == b"+ idling"
    imap.deliver(message(1))
    assert [a.line(), a.line()] == [b"* 1 EXISTS", b"* 1 RECENT"]
    a.send(b"DONE\r\n")
    assert a.until_tagged(b"i1") == [b"i1 OK IDLE terminated"]


def test_search_recent_new_old(imap: ImapServer) -> None:
    imap.deliver(message(1))
    first = logged_in(imap)
    first.cmd(b"f", b"SELECT INBOX")  # takes UID 1
    imap.deliver(message(2), flags=("\\Seen",))
    imap.deliver(message(3))
    c = logged_in(imap)
    c.cmd(b"s", b"SELECT INBOX")
    for key, result in ((b"RECENT", b"* SEARCH 2 3"), (b"NEW", b"* SEARCH 3"),
                        (b"OLD", b"* SEARCH 1"), (b"NOT RECENT", b"* SEARCH 1"),
                        (b"OR NEW OLD", b"* SEARCH 1 3"), (b"RECENT SEEN", b"* SEARCH 2"),
                        (b"UNSEEN NOT NEW", b"* SEARCH 1")):
        assert c.cmd(b"t", b"SEARCH " + key) == [result, b"t OK SEARCH completed"], key
    assert c.cmd(b"u", b"UID SEARCH RETURN (ALL COUNT) RECENT") == [
        b'* ESEARCH (TAG "u") UID ALL 2:3 COUNT 2', b"u OK UID SEARCH completed"]


def test_store_cannot_set_or_clear_recent(imap: ImapServer) -> None:
    imap.deliver(message(1))
    c = logged_in(imap)
    c.cmd(b"s", b"SELECT INBOX")
    assert c.cmd(b"a", b"STORE 1 -FLAGS (\\Recent)") == [b"* 1 FETCH (FLAGS (\\Recent))",
                                                          b"a OK STORE completed"]
    assert c.cmd(b"b", b"STORE 1 FLAGS (\\Seen)") == [b"* 1 FETCH (FLAGS (\\Seen \\Recent))",
                                                       b"b OK STORE completed"]
    assert c.cmd(b"c", b"STORE 1 FLAGS ()") == [b"* 1 FETCH (FLAGS (\\Recent))",
                                                 b"c OK STORE completed"]
    assert imap.folder().record(1).flags == ()  # a session flag never reaches the store
    raw = message(2)
    c.cmd(b"d", b"APPEND Drafts (\\Recent \\Draft) {%d+}\r\n" % len(raw) + raw)
    assert imap.folder("Drafts").record(1).flags == ("\\Draft",)


def test_rev2_sends_no_recent_and_claims_nothing(imap: ImapServer) -> None:
    imap.deliver(message(1))
    c = logged_in(imap)
    c.cmd(b"e", b"ENABLE IMAP4rev2")
    lines = c.cmd(b"s", b"SELECT INBOX")
    assert not any(b"RECENT" in x for x in lines)
    assert c.cmd(b"f", b"FETCH 1 (FLAGS)") == [b"* 1 FETCH (FLAGS ())", b"f OK FETCH completed"]
    imap.deliver(message(2))
    assert c.cmd(b"n", b"NOOP") == [b"* 2 EXISTS", b"n OK NOOP completed"]
    # both are left for a session that can see \Recent
    other = logged_in(imap)
    assert other.cmd(b"s", b"SELECT INBOX")[2:4] == [b"* 2 EXISTS", b"* 2 RECENT"]


def test_imapclient_sees_recent(imap: ImapServer) -> None:
    imap.deliver(message(1))
    client = IMAPClient(imap.host, port=imap.port, ssl=False, timeout=TIMEOUT)
    imap.clients.append(client)
    client.login(USER, PASSWORD)
    assert client.folder_status("INBOX", ["RECENT"]) == {b"RECENT": 1}
    info = client.select_folder("INBOX")
    assert info[b"RECENT"] == 1
    assert client.get_flags([1]) == {1: (b"\\Recent",)}
    assert client.search(["NEW"]) == [1]
    assert client.folder_status("INBOX", ["RECENT"]) == {b"RECENT": 1}
    client.unselect_folder()
    assert client.select_folder("INBOX")[b"RECENT"] == 0
    assert client.search(["OLD"]) == [1]
