"""APPEND: flags and date, APPENDUID, TRYCREATE, APPENDLIMIT/TOOBIG, quota, literal8 and UTF8,
and a 25 MB round trip byte for byte."""

from __future__ import annotations

import imaplib
import os

from rmail.imap.server import Limits
from tests.imap.conftest import DOMAIN, USER, ImapServer, StartImap, message
from tests.imap.test_mailboxes import logged_in


def test_append_flags_date_appenduid(imap: ImapServer) -> None:
    c = logged_in(imap)
    raw = message(1)
    v = imap.folder("Drafts").status().uidvalidity
    c.send(b'a APPEND Drafts (\\Draft $Todo) "14-Jul-2023 10:20:30 +0200" {%d}\r\n' % len(raw))
    assert c.line() == b"+ Ready for literal data"
    c.send(raw + b"\r\n")
    assert c.until_tagged(b"a") == [b"a OK [APPENDUID %d 1] APPEND completed" % v]
    rec = imap.folder("Drafts").record(1)
    assert rec.flags == ("$Todo", "\\Draft")
    assert rec.internaldate == 1689322830
    assert imap.folder("Drafts").read_message(1) == raw
    c.cmd(b"b", b"SELECT Drafts")
    assert c.cmd(b"c", b"FETCH 1 INTERNALDATE") == [
        b'* 1 FETCH (INTERNALDATE "14-Jul-2023 08:20:30 +0000")', b"c OK FETCH completed"]


def test_append_to_selected_mailbox_sends_exists(imap: ImapServer) -> None:
    c = logged_in(imap)
    c.cmd(b"a", b"SELECT INBOX")
    raw = message(1)
    lines = c.cmd(b"b", b"APPEND INBOX {%d+}\r\n" % len(raw) + raw)
    assert lines[:2] == [b"* 1 EXISTS", b"* 1 RECENT"]  # this session is told first
    assert lines[2].startswith(b"b OK [APPENDUID ")


def test_append_errors(imap: ImapServer) -> None:
    c = logged_in(imap)
    assert c.cmd(b"a", b"APPEND Nowhere {3+}\r\nabc") == [b"a NO [TRYCREATE] no mailbox 'Nowhere'"]
    assert c.cmd(b"b", b'APPEND INBOX "x"')[0].startswith(b"b BAD expected a date-time")
    assert c.cmd(b"c", b"APPEND INBOX (\\Bogus) {3+}\r\nabc")[0].startswith(b"c BAD")


def test_appendlimit_refuses_before_reading(start_imap: StartImap) -> None:
    imap = start_imap(max_message_bytes=1000)
    c = logged_in(imap)
    assert "APPENDLIMIT=1000" in c.cmd(b"x", b"CAPABILITY")[0].decode()
    # synchronising: refused without a continuation, and the session goes on
    assert c.cmd(b"a", b"APPEND INBOX {1001}") == [
        b"a NO [TOOBIG] message is larger than APPENDLIMIT 1000"]
    assert c.cmd(b"b", b"NOOP") == [b"b OK NOOP completed"]
    # non-synchronising: the data is already coming, so the connection ends
    c.send(b"c APPEND INBOX {2000+}\r\n" + b"x" * 2000 + b"\r\n")
    assert c.until_tagged(b"c") == [b"c NO [TOOBIG] message is larger than APPENDLIMIT 1000"]
    assert c.closed()
    assert c.buf.startswith(b"* BYE")


def test_quota(imap: ImapServer) -> None:
    imap.core.accounts.update(DOMAIN, USER, quota_mb=1)
    imap.deliver(b"Subject: big\r\n\r\n" + b"x" * 1_000_000)
    c = logged_in(imap)
    raw = b"Subject: more\r\n\r\n" + b"y" * 100_000
    assert c.cmd(b"a", b"APPEND INBOX {%d+}\r\n" % len(raw) + raw) == [
        b"a NO [OVERQUOTA] quota of 1048576 bytes exceeded"]
    c.cmd(b"b", b"SELECT INBOX")
    assert c.cmd(b"c", b"COPY 1 Archive") == [b"c NO [OVERQUOTA] quota of 1048576 bytes exceeded"]


def test_literal8_and_utf8_append(imap: ImapServer) -> None:
    c = logged_in(imap)
    raw = b"Subject: bin\r\n\r\n\x00\x01\x02"
    assert c.cmd(b"a", b"APPEND INBOX ~{%d+}\r\n" % len(raw) + raw)[0].startswith(
        b"a OK [APPENDUID")
    # stored re-encoded (no NUL may reach an ordinary literal); BINARY gives the bytes back
    assert imap.folder().read_message(1) == (
        b"Subject: bin\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC")
    c.cmd(b"s", b"SELECT INBOX")
    assert c.cmd(b"t", b"FETCH 1 (BINARY.PEEK[1])")[0] == (
        b"* 1 FETCH (BINARY[1] ~{3}\r\n\x00\x01\x02)")
    c.cmd(b"u", b"UNSELECT")
    utf8 = "Subject: Grüße\r\nFrom: jörg@example.de\r\n\r\nhi\r\n".encode()
    c.cmd(b"b", b"ENABLE UTF8=ACCEPT")
    assert c.cmd(b"c", b"APPEND INBOX UTF8 (~{%d+}\r\n" % len(utf8) + utf8 + b")")[0].startswith(
        b"c OK [APPENDUID")
    c.cmd(b"d", b"SELECT INBOX")
    lines = c.cmd(b"e", b"FETCH 2 ENVELOPE")
    assert lines[0].startswith('* 2 FETCH (ENVELOPE (NIL "Grüße" ((NIL NIL "jörg"'.encode())


def test_25mb_round_trip(start_imap: StartImap) -> None:
    imap = start_imap(limits=Limits(appendlimit=30 * 1024 * 1024))
    body = os.urandom(25 * 1024 * 1024 // 4 * 3)
    import base64
    raw = (b"From: big@example.org\r\nSubject: big\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" +
           base64.encodebytes(body).replace(b"\n", b"\r\n"))
    assert len(raw) > 25 * 1024 * 1024
    c = imap.login()
    typ, data = c.append("INBOX", None, None, raw)
    assert typ == "OK", data
    c.select("INBOX")
    typ, data = c.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK"
    assert data[0][1] == raw  # type: ignore[index]
    typ, data = c.fetch("1", "(BINARY.PEEK[1])")
    assert data[0][1] == body  # type: ignore[index]


def test_appendlimit_default_follows_config(imap: ImapServer) -> None:
    c = imap.connect()
    assert f"APPENDLIMIT={imap.config.max_message_bytes}" in c.capabilities
    assert isinstance(c, imaplib.IMAP4)
