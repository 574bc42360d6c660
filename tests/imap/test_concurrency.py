"""Several sessions on one folder (and delivery from another thread): each sees the others'
changes, EXPUNGE only where RFC 3501 §7.4.1 allows, IDLE pushes."""

from __future__ import annotations

import socket
import threading

from tests.imap.conftest import TIMEOUT, ImapServer, RawClient, message
from tests.imap.test_fetch import selected


def test_flags_and_new_mail_reach_other_sessions(imap: ImapServer) -> None:
    a = selected(imap, message(1), message(2))
    b = selected(imap)
    assert b.cmd(b"b1", b"STORE 1 +FLAGS (\\Seen)") == [b"* 1 FETCH (FLAGS (\\Seen))",
                                                         b"b1 OK STORE completed"]
    imap.deliver(message(3))  # delivery from another thread
    assert a.cmd(b"a1", b"NOOP") == [b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))", b"* 3 EXISTS",
                                     b"* 3 RECENT", b"a1 OK NOOP completed"]
    assert b.cmd(b"b2", b"NOOP") == [b"* 3 EXISTS", b"b2 OK NOOP completed"]
    assert a.cmd(b"a2", b"NOOP") == [b"a2 OK NOOP completed"]


def test_expunge_waits_for_a_safe_command(imap: ImapServer) -> None:
    a = selected(imap, *(message(i) for i in range(1, 5)))
    b = selected(imap)
    b.cmd(b"b1", b"STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert b.cmd(b"b2", b"EXPUNGE") == [b"* 2 EXPUNGE", b"b2 OK EXPUNGE completed"]
    # FETCH, STORE and SEARCH by sequence number: no EXPUNGE, numbers stay put
    assert a.cmd(b"a1", b"FETCH 1:* (UID)") == [
        b"* 1 FETCH (UID 1)", b"* 3 FETCH (UID 3)", b"* 4 FETCH (UID 4)",
        b"a1 NO [EXPUNGEISSUED] some of the requested messages no longer exist"]
    assert a.cmd(b"a2", b"SEARCH ALL") == [b"* SEARCH 1 3 4", b"a2 OK SEARCH completed"]
    assert a.cmd(b"a3", b"STORE 4 +FLAGS (\\Flagged)") == [
        b"* 4 FETCH (FLAGS (\\Flagged \\Recent))", b"a3 OK STORE completed"]
    # NOOP may expunge
    assert a.cmd(b"a4", b"NOOP") == [b"* 2 EXPUNGE", b"* 3 RECENT", b"a4 OK NOOP completed"]
    assert a.cmd(b"a5", b"FETCH 1:* (UID)") == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 3)",
                                                b"* 3 FETCH (UID 4)", b"a5 OK FETCH completed"]


def test_uid_commands_may_expunge(imap: ImapServer) -> None:
    a = selected(imap, *(message(i) for i in range(1, 4)))
    imap.folder().expunge([1])
    assert a.cmd(b"a1", b"UID FETCH 2 (FLAGS)") == [
        b"* 2 FETCH (UID 2 FLAGS (\\Recent))", b"* 1 EXPUNGE", b"* 2 RECENT",
        b"a1 OK UID FETCH completed"]


def test_three_sessions_and_qresync(imap: ImapServer) -> None:
    a = selected(imap, *(message(i) for i in range(1, 4)))
    b = selected(imap)
    c = imap.raw()
    c.cmd(b"L", b'LOGIN alice "secret password"')
    c.cmd(b"E", b"ENABLE QRESYNC")
    c.cmd(b"S", b"SELECT INBOX")
    assert b.cmd(b"b1", b"MOVE 2 Trash")[-1] == b"b1 OK MOVE completed"
    assert a.cmd(b"a1", b"CHECK") == [b"* 2 EXPUNGE", b"* 2 RECENT", b"a1 OK CHECK completed"]
    assert c.cmd(b"c1", b"NOOP") == [b"* VANISHED 2", b"c1 OK NOOP completed"]
    assert a.cmd(b"a2", b"STORE 2 +FLAGS (\\Answered)") == [
        b"* 2 FETCH (FLAGS (\\Answered \\Recent))", b"a2 OK STORE completed"]
    assert b.cmd(b"b2", b"NOOP") == [b"* 2 FETCH (UID 3 FLAGS (\\Answered))",
                                     b"b2 OK NOOP completed"]
    assert c.cmd(b"c2", b"NOOP") == [b"* 2 FETCH (UID 3 FLAGS (\\Answered) MODSEQ (5))",
                                     b"c2 OK NOOP completed"]


def test_selected_mailbox_deleted_elsewhere(imap: ImapServer) -> None:
    imap.core.mail.mailbox("example.com", "alice").create_folder("tmp")
    a = selected(imap)
    a.cmd(b"a0", b"SELECT tmp")
    imap.core.mail.mailbox("example.com", "alice").delete_folder("tmp")
    a.send(b"a1 NOOP\r\n")
    assert a.line() == b"* BYE the selected mailbox was deleted"
    assert a.closed()


def wait_line(c: RawClient, timeout: float = TIMEOUT) -> bytes:
    c.sock.settimeout(timeout)
    try:
        return c.line()
    finally:
        c.sock.settimeout(TIMEOUT)


def test_idle_pushes_delivery_flags_and_expunge(imap: ImapServer) -> None:
    a = selected(imap, message(1), message(2))
    a.send(b"i1 IDLE\r\n")
    assert wait_line(a) == b"+ idling"
    threading.Thread(target=imap.deliver, args=(message(3),)).start()
    assert wait_line(a) == b"* 3 EXISTS"
    assert wait_line(a) == b"* 3 RECENT"
    imap.folder().store_flags([1], "add", ["\\Seen"])
    assert wait_line(a) == b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))"
    imap.folder().expunge([2])
    assert wait_line(a) == b"* 2 EXPUNGE"
    assert wait_line(a) == b"* 2 RECENT"
    imap.core.mail.mailbox("example.com", "alice").folder("Sent").append(message(9))
    a.send(b"DONE\r\n")
    assert a.until_tagged(b"i1") == [b"i1 OK IDLE terminated"]
    assert a.cmd(b"n", b"NOOP") == [b"n OK NOOP completed"]


def test_idle_reports_pending_changes_at_once(imap: ImapServer) -> None:
    a = selected(imap, message(1))
    imap.deliver(message(2))
    a.send(b"i1 IDLE\r\n")
    assert wait_line(a) == b"+ idling"
    assert wait_line(a) == b"* 2 EXISTS"
    assert wait_line(a) == b"* 2 RECENT"
    a.send(b"done\r\n")
    assert a.until_tagged(b"i1") == [b"i1 OK IDLE terminated"]


def test_idle_bad_continuation(imap: ImapServer) -> None:
    a = selected(imap)
    a.send(b"i1 IDLE\r\n")
    assert wait_line(a) == b"+ idling"
    a.send(b"NOOP\r\n")
    assert a.until_tagged(b"i1") == [b"i1 BAD expected DONE"]


def test_idle_in_authenticated_state_and_disconnect(imap: ImapServer) -> None:
    a = imap.raw()
    a.cmd(b"L", b'LOGIN alice "secret password"')
    a.send(b"i1 IDLE\r\n")
    assert wait_line(a) == b"+ idling"
    imap.deliver(message(1))
    a.sock.shutdown(socket.SHUT_RDWR)  # the server must clean up without complaint


def test_imapclient_idle(imap: ImapServer) -> None:
    from imapclient import IMAPClient

    client = IMAPClient(imap.host, port=imap.port, ssl=False, timeout=TIMEOUT)
    imap.clients.append(client)
    client.login("alice", "secret password")
    client.select_folder("INBOX")
    client.idle()
    imap.deliver(message(1))
    responses = client.idle_check(timeout=TIMEOUT)
    assert (1, b"EXISTS") in responses
    client.idle_done()
    client.logout()
