"""Hostile and malformed input over real sockets: clear BAD/NO, bounded cost, no crash."""

from __future__ import annotations

import random
import socket

from tests.imap.conftest import TIMEOUT, ImapServer, message
from tests.imap.test_fetch import selected
from tests.imap.test_mailboxes import logged_in


def test_huge_literal_announcements(imap: ImapServer) -> None:
    c = imap.raw()
    assert c.cmd(b"a", b"LOGIN {1073741824}") == [
        b"a BAD literal of 1073741824 bytes is larger than the limit of 8192"]
    assert c.cmd(b"b", b"NOOP") == [b"b OK NOOP completed"]
    c = logged_in(imap)
    assert c.cmd(b"c", b"APPEND INBOX {1073741824}") == [
        b"c NO [TOOBIG] message is larger than APPENDLIMIT 52428800"]
    assert c.cmd(b"d", b"SEARCH TEXT {1073741824}") == [
        b"d BAD literal of 1073741824 bytes is larger than the limit of 1048576"]
    assert c.cmd(b"e", b"SEARCH TEXT {99999999999999999999}")[0].startswith(b"e BAD literal")
    c.send(b"f LOGIN {1073741824+}\r\n")
    assert c.until_tagged(b"f")[0].startswith(b"f BAD literal")
    assert c.closed()


def test_unterminated_literal_then_disconnect(imap: ImapServer) -> None:
    c = logged_in(imap)
    c.send(b"a APPEND INBOX {100+}\r\nonly a little")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.closed()
    other = logged_in(imap)  # the server is fine
    assert other.cmd(b"b", b"NOOP") == [b"b OK NOOP completed"]
    assert imap.folder().status().count == 0


def test_deep_nesting(imap: ImapServer) -> None:
    c = selected(imap, message(1))
    deep = b"(" * 20000 + b"ALL" + b")" * 20000
    assert c.cmd(b"a", b"SEARCH " + deep)[0].startswith(b"a BAD search keys are nested too")
    nots = b"NOT " * 5000 + b"ALL"
    assert c.cmd(b"b", b"SEARCH " + nots)[0].startswith(b"b BAD search keys are nested too")
    assert c.cmd(b"c", b"SEARCH " + b"(" * 70000)[0] == b"c BAD line is longer than 65536 bytes"
    assert c.cmd(b"d", b"NOOP") == [b"d OK NOOP completed"]


def test_invalid_sequence_sets(imap: ImapServer) -> None:
    c = selected(imap, message(1), message(2))
    for i, seq in enumerate((b"0", b"1:0", b"*:0", b"4294967296", b"99999999999", b"1,", b",1",
                             b"1:2:3", b"a", b"1-2", b"3", b"2:5")):
        tag = b"t%d" % i
        lines = c.cmd(tag, b"FETCH " + seq + b" FLAGS")
        assert len(lines) == 1 and lines[0].startswith(tag + b" BAD"), (seq, lines)
    assert c.cmd(b"u", b"UID FETCH 3:99 FLAGS") == [b"u OK UID FETCH completed"]
    assert c.cmd(b"v", b"UID FETCH 3:* FLAGS") == [b"* 2 FETCH (UID 2 FLAGS (\\Recent))",
                                                   b"v OK UID FETCH completed"]


def test_long_lines(imap: ImapServer) -> None:
    c = logged_in(imap)
    assert c.cmd(b"a", b"NOOP " + b"x" * 100_000) == [b"a BAD line is longer than 65536 bytes"]
    assert c.cmd(b"b", b"NOOP") == [b"b OK NOOP completed"]
    anon = imap.raw()
    anon.send(b"a NOOP " + b"x" * 100_000 + b"\r\n")
    assert anon.line() == b"a BAD line is longer than 65536 bytes"
    assert anon.closed()


def test_garbage_and_bad_streak(imap: ImapServer) -> None:
    c = imap.raw()
    assert c.cmd(b"a", b"FOO") == [b"a BAD unknown command FOO"]
    c.send(b"\x00\xff\xfe garbage\r\n")
    assert c.line() == b"* BAD missing or invalid tag"
    for i in range(18):
        c.send(b"x%d BOGUS\r\n" % i)
    assert c.closed()
    assert c.buf.endswith(b"* BYE too many invalid commands\r\n")


def test_random_bytes_never_kill_the_server(imap: ImapServer) -> None:
    rnd = random.Random(4)
    # no "{": a literal announcement would (rightly) make the server wait for its bytes
    alphabet = b' ()[]<>"\\*%$:,.~+-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\x00\xff'
    words = [b"FETCH", b"UID", b"SEARCH", b"STORE", b"LIST", b"SELECT", b"BODY[", b"INBOX",
             b"NIL", b"OR", b"NOT", b"&AOQ-", b"1:*", b"IDLE", b"AUTHENTICATE"]
    for _ in range(8):
        c = selected(imap, message(1))
        for i in range(15):
            parts = [rnd.choice(words) if rnd.random() < 0.3 else
                     bytes([rnd.choice(alphabet)]) for _ in range(rnd.randrange(1, 40))]
            c.send(b"r%d " % i + b"".join(parts).replace(b"\r", b"").replace(b"\n", b"") +
                   b"\r\n")
        c.sock.settimeout(TIMEOUT)
        c.send(b"zz NOOP\r\n")
        try:
            while not c.line().startswith(b"zz "):
                pass
        except EOFError:
            pass  # closed for too many errors or a refused literal: fine
        c.shutdown()
    probe = logged_in(imap)
    assert probe.cmd(b"p", b"NOOP") == [b"p OK NOOP completed"]


def test_oversized_sasl_and_idle_lines(imap: ImapServer) -> None:
    c = imap.raw()
    c.send(b"a AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(b"A" * 20000 + b"\r\n")
    assert c.line() == b"* BYE SASL response too long"
    assert c.closed()
    c = selected(imap)
    c.send(b"i IDLE\r\n")
    assert c.line() == b"+ idling"
    c.send(b"x" * 70000 + b"\r\n")
    assert c.line() == b"* BYE line too long during IDLE"
    assert c.closed()


def test_failed_starttls_handshake(imap: ImapServer) -> None:
    with socket.create_connection((imap.host, imap.port), timeout=TIMEOUT) as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"a STARTTLS\r\n")
        assert f.readline() == b"a OK Begin TLS negotiation now\r\n"
        sock.sendall(b"this is not a TLS client hello\r\n" * 10)
        assert f.read() in (b"",)  # the server hangs up
    assert logged_in(imap).cmd(b"b", b"NOOP") == [b"b OK NOOP completed"]
