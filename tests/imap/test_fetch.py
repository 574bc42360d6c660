"""FETCH and UID FETCH: every data item, sections with partials, BINARY, implicit \\Seen."""

from __future__ import annotations

import base64

from tests.imap.conftest import ImapServer, RawClient, message
from tests.imap.test_mailboxes import logged_in

MIXED = (
    b"From: \"Ann Example\" <ann@example.org>\r\n"
    b"To: team: bob@example.net, carol@example.net;, dave@example.com\r\n"
    b"Cc: =?utf-8?q?J=C3=B6rg?= <joerg@example.de>\r\n"
    b"Subject: Report\r\n"
    b"Date: Tue, 2 Jan 2024 09:30:00 +0100\r\n"
    b"Message-ID: <report@example.org>\r\n"
    b"In-Reply-To: <q@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--outer\r\n"
    b"Content-Type: multipart/alternative; boundary=inner\r\n"
    b"\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Gr=C3=BC=C3=9Fe\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p>Hi</p>\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
    b"Content-Disposition: attachment; filename=\"data.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    + base64.b64encode(b"\x00\x01\x02binary\xff") + b"\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: inner@example.org\r\n"
    b"Subject: Inner\r\n"
    b"\r\n"
    b"inner text\r\n"
    b"--outer--\r\n"
)


def lit(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def selected(imap: ImapServer, *messages: bytes) -> RawClient:
    for m in messages:
        imap.deliver(m)
    c = logged_in(imap)
    c.cmd(b"S", b"SELECT INBOX")
    return c


def test_fast_macro_and_uid(imap: ImapServer) -> None:
    c = selected(imap, message(1))
    date = imap.folder().record(1).internaldate
    import datetime as dt
    t = dt.datetime.fromtimestamp(date, dt.UTC).strftime("%d-%b-%Y %H:%M:%S +0000").encode()
    size = len(message(1))
    assert c.cmd(b"a", b"FETCH 1 FAST") == [
        b'* 1 FETCH (FLAGS (\\Recent) INTERNALDATE "%s" RFC822.SIZE %d)' % (t, size),
        b"a OK FETCH completed"]
    assert c.cmd(b"b", b"UID FETCH 1 FLAGS") == [b"* 1 FETCH (UID 1 FLAGS (\\Recent))",
                                                 b"b OK UID FETCH completed"]
    assert c.cmd(b"c", b"UID FETCH 99 FLAGS") == [b"c OK UID FETCH completed"]
    assert c.cmd(b"d", b"FETCH 2 FLAGS") == [b"d BAD message sequence number 2 does not exist"]


def test_envelope(imap: ImapServer) -> None:
    c = selected(imap, MIXED)
    assert c.cmd(b"a", b"FETCH 1 ENVELOPE") == [
        b'* 1 FETCH (ENVELOPE ("Tue, 2 Jan 2024 09:30:00 +0100" "Report" '
        b'(("Ann Example" NIL "ann" "example.org")) (("Ann Example" NIL "ann" "example.org")) '
        b'(("Ann Example" NIL "ann" "example.org")) '
        b'((NIL NIL "team" NIL)(NIL NIL "bob" "example.net")(NIL NIL "carol" "example.net")'
        b'(NIL NIL NIL NIL)(NIL NIL "dave" "example.com")) '
        b'(("=?utf-8?q?J=C3=B6rg?=" NIL "joerg" "example.de")) NIL "<q@example.org>" '
        b'"<report@example.org>"))', b"a OK FETCH completed"]


def test_bodystructure_and_body(imap: ImapServer) -> None:
    c = selected(imap, MIXED)
    lines = c.cmd(b"a", b"FETCH 1 (BODYSTRUCTURE)")
    assert lines == [
        b'* 1 FETCH (BODYSTRUCTURE ((("text" "plain" ("charset" "utf-8") NIL NIL '
        b'"QUOTED-PRINTABLE" 15 1 NIL NIL NIL NIL)("text" "html" ("charset" "utf-8") NIL NIL '
        b'"7BIT" 9 1 NIL NIL NIL NIL) "alternative" ("boundary" "inner") NIL NIL NIL)'
        b'("application" "octet-stream" ("name" "data.bin") NIL NIL "BASE64" 16 NIL '
        b'("attachment" ("filename" "data.bin")) NIL NIL)'
        b'("message" "rfc822" NIL NIL NIL "7BIT" 53 (NIL "Inner" '
        b'((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) '
        b'((NIL NIL "inner" "example.org")) NIL NIL NIL NIL NIL) '
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) 4 '
        b'NIL NIL NIL NIL) "mixed" ("boundary" "outer") NIL NIL NIL))',
        b"a OK FETCH completed"]
    body = c.cmd(b"b", b"FETCH 1 BODY")[0]
    assert body.startswith(b'* 1 FETCH (BODY ((("text" "plain" ("charset" "utf-8") NIL NIL '
                           b'"QUOTED-PRINTABLE" 15 1)("text" "html"')
    assert body.endswith(b' 4) "mixed"))')


def test_sections(imap: ImapServer) -> None:
    c = selected(imap, MIXED)

    def fetch(item: bytes) -> bytes:
        lines = c.cmd(b"t", b"FETCH 1 (" + item + b")")
        assert lines[-1] == b"t OK FETCH completed", lines
        return lines[0]

    assert fetch(b"BODY.PEEK[1.1]") == b"* 1 FETCH (BODY[1.1] {15}\r\nGr=C3=BC=C3=9Fe)"
    assert fetch(b"BODY.PEEK[1.2.MIME]") == (
        b"* 1 FETCH (BODY[1.2.MIME] " + lit(b"Content-Type: text/html; charset=utf-8\r\n\r\n")
        + b")")
    assert fetch(b"BODY.PEEK[3.HEADER]") == (
        b"* 1 FETCH (BODY[3.HEADER] " + lit(b"From: inner@example.org\r\nSubject: Inner\r\n\r\n")
        + b")")
    assert fetch(b"BODY.PEEK[3.TEXT]") == b"* 1 FETCH (BODY[3.TEXT] {10}\r\ninner text)"
    assert fetch(b"BODY.PEEK[3.1]") == b"* 1 FETCH (BODY[3.1] {10}\r\ninner text)"
    assert fetch(b"BODY.PEEK[3]") == b"* 1 FETCH (BODY[3] " + lit(
        b"From: inner@example.org\r\nSubject: Inner\r\n\r\ninner text") + b")"
    assert fetch(b"BODY.PEEK[HEADER.FIELDS (subject to)]") == (
        b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT TO)] " + lit(
            b"To: team: bob@example.net, carol@example.net;, dave@example.com\r\n"
            b"Subject: Report\r\n\r\n") + b")")
    not_fields = fetch(b"BODY.PEEK[HEADER.FIELDS.NOT (Content-Type From To Cc Date "
                       b"Message-ID In-Reply-To)]")
    assert not_fields == (b"* 1 FETCH (BODY[HEADER.FIELDS.NOT (CONTENT-TYPE FROM TO CC DATE "
                          b"MESSAGE-ID IN-REPLY-TO)] " +
                          lit(b"Subject: Report\r\nMIME-Version: 1.0\r\n\r\n") + b")")
    assert fetch(b"BODY.PEEK[]<0.4>") == b"* 1 FETCH (BODY[]<0> {4}\r\nFrom)"
    assert fetch(b"BODY.PEEK[1.1]<3.5>") == b"* 1 FETCH (BODY[1.1]<3> {5}\r\nC3=BC)"
    assert fetch(b"BODY.PEEK[1.1]<100.5>") == b'* 1 FETCH (BODY[1.1]<100> {0}\r\n)'
    assert fetch(b"BODY.PEEK[9]") == b"* 1 FETCH (BODY[9] NIL)"
    assert fetch(b"BODY.PEEK[1.1.HEADER]") == b"* 1 FETCH (BODY[1.1.HEADER] NIL)"
    assert imap.folder().record(1).flags == ()


def test_whole_message_items_byte_exact(imap: ImapServer) -> None:
    c = selected(imap, MIXED)
    header, _, text = MIXED.partition(b"\r\n\r\n")
    lines = c.cmd(b"a", b"FETCH 1 (BODY.PEEK[] RFC822.HEADER BODY.PEEK[TEXT])")
    assert lines[0] == (b"* 1 FETCH (BODY[] {%d}\r\n" % len(MIXED) + MIXED +
                        b" RFC822.HEADER {%d}\r\n" % (len(header) + 4) + header + b"\r\n\r\n" +
                        b" BODY[TEXT] {%d}\r\n" % len(text) + text + b")")
    lines = c.cmd(b"b", b"FETCH 1 RFC822")
    assert lines[0] == b"* 1 FETCH (RFC822 {%d}\r\n" % len(MIXED) + MIXED + \
        b" FLAGS (\\Seen \\Recent))"


def test_binary(imap: ImapServer) -> None:
    c = selected(imap, MIXED)
    assert c.cmd(b"a", b"FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[1.1])") == [
        b"* 1 FETCH (BINARY[2] ~{10}\r\n\x00\x01\x02binary\xff BINARY.SIZE[2] 10 "
        b"BINARY[1.1] {7}\r\nGr\xc3\xbc\xc3\x9fe)", b"a OK FETCH completed"]
    assert c.cmd(b"b", b"FETCH 1 BINARY.PEEK[2]<3.6>") == [
        b"* 1 FETCH (BINARY[2]<3> {6}\r\nbinary)", b"b OK FETCH completed"]


def test_unknown_transfer_encoding(imap: ImapServer) -> None:
    raw = b"Subject: x\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644\r\n"
    c = selected(imap, raw)
    assert c.cmd(b"a", b"FETCH 1 BINARY.PEEK[1]") == [
        b"a NO [UNKNOWN-CTE] unknown Content-Transfer-Encoding X-UUENCODE"]


def test_implicit_seen(imap: ImapServer) -> None:
    c = selected(imap, message(1), message(2))
    assert c.cmd(b"a", b"FETCH 1 BODY[TEXT]") == [
        b"* 1 FETCH (BODY[TEXT] {7}\r\nhello\r\n FLAGS (\\Seen \\Recent))",
        b"a OK FETCH completed"]
    assert c.cmd(b"b", b"FETCH 1 (FLAGS BODY[TEXT])") == [
        b"* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[TEXT] {7}\r\nhello\r\n)",
        b"b OK FETCH completed"]
    assert c.cmd(b"c", b"FETCH 2 RFC822.TEXT") == [
        b"* 2 FETCH (RFC822.TEXT {7}\r\nhello\r\n FLAGS (\\Seen \\Recent))",
        b"c OK FETCH completed"]


def test_malformed_message_still_fetches(imap: ImapServer) -> None:
    raw = b"garbage without header\n\nand \x00 a NUL"
    c = selected(imap, raw)
    lines = c.cmd(b"a", b"FETCH 1 (ENVELOPE BODYSTRUCTURE BODY.PEEK[])")
    assert lines[-1] == b"a OK FETCH completed"
    # RFC 3501 §4.3: no NUL in a literal; it shows as 0x80 (as in Dovecot)
    assert lines[0].endswith(b"\r\n" + raw.replace(b"\x00", b"\x80") + b")")


def test_imaplib_fetch(imap: ImapServer) -> None:
    imap.deliver(MIXED)
    c = imap.login()
    c.select("INBOX")
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] RFC822.SIZE)")
    assert typ == "OK"
    assert data[0][0] == b"1 (BODY[HEADER.FIELDS (SUBJECT)] {19}"  # type: ignore[index]
    assert data[0][1] == b"Subject: Report\r\n\r\n"  # type: ignore[index]
    assert data[1] == b" RFC822.SIZE %d)" % len(MIXED)
