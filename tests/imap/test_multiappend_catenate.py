"""MULTIAPPEND (RFC 3502: several messages, all stored or none) and CATENATE (RFC 4469: a
message joined from text and IMAP URLs), in raw IMAP."""

from __future__ import annotations

from tests.imap.conftest import DOMAIN, USER, ImapServer, RawClient, StartImap
from tests.imap.test_fetch import logged_in


def lit(data: bytes) -> bytes:
    return b"{%d+}\r\n" % len(data) + data


M1 = b"From: a@example.org\r\nSubject: one\r\n\r\nbody one\r\n"
M2 = b"From: b@example.org\r\nSubject: two\r\n\r\nbody two\r\n"


def _uids(imap: ImapServer, folder: str = "INBOX") -> list[int]:
    return imap.folder(folder).uids()


def test_multiappend_stores_all_with_one_appenduid(imap: ImapServer) -> None:
    c = logged_in(imap)
    v = imap.folder().status().uidvalidity
    lines = c.cmd(b"a", b"APPEND INBOX (\\Seen) " + lit(M1) + b' (\\Flagged) '
                  b'"05-Mar-2024 12:00:00 +0000" ' + lit(M2))
    assert lines == [b"a OK [APPENDUID %d 1:2] APPEND completed" % v]
    f = imap.folder()
    assert [f.record(u).flags for u in (1, 2)] == [("\\Seen",), ("\\Flagged",)]
    assert f.read_message(2) == M2 and f.record(2).internaldate == 1709640000


def test_multiappend_is_all_or_nothing(imap: ImapServer) -> None:
    c = logged_in(imap)
    big = b"Subject: big\r\n\r\n" + b"x" * 700_000
    imap.core.accounts.update(DOMAIN, USER, quota_mb=1)
    assert c.cmd(b"a", b"APPEND INBOX " + lit(big) + b" " + lit(big)) == [
        b"a NO [OVERQUOTA] quota of 1048576 bytes exceeded"]
    assert _uids(imap) == []
    lines = c.cmd(b"b", b"APPEND INBOX " + lit(M1) + b' CATENATE (URL "/INBOX/;UID=9")')
    assert lines[0].startswith(b"b NO [BADURL /INBOX/;UID=9]")
    assert c.cmd(b"c", b"APPEND INBOX " + lit(M1) + b" " + lit(b"")) [0].startswith(b"c NO ")
    assert _uids(imap) == []
    assert c.cmd(b"d", b"APPEND Nowhere " + lit(M1) + b" " + lit(M2)) == [
        b"d NO [TRYCREATE] no mailbox 'Nowhere'"]
    assert c.cmd(b"e", b"APPEND INBOX " + lit(M1) + b" " + lit(M2) + b" ")[0].startswith(
        b"e BAD ")
    assert _uids(imap) == []


def _catenate(c: RawClient, tag: bytes, *parts: bytes) -> list[bytes]:
    return c.cmd(tag, b"APPEND Archive CATENATE (" + b" ".join(parts) + b")")


def test_catenate_joins_text_and_parts_of_stored_messages(imap: ImapServer) -> None:
    multipart = (b"From: m@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                 b"--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b--\r\n")
    imap.deliver(M1)
    imap.deliver(multipart)
    v = imap.folder().status().uidvalidity
    c = logged_in(imap)
    assert _catenate(c, b"a", b'URL "/INBOX/;UID=1/;SECTION=HEADER"',
                     b"TEXT " + lit(b"new body\r\n"))[0].startswith(b"a OK [APPENDUID")
    assert imap.folder("Archive").read_message(1) == (
        b"From: a@example.org\r\nSubject: one\r\n\r\nnew body\r\n")
    url = b'URL "imap://%s@localhost/INBOX;UIDVALIDITY=%d/;UID=2/;SECTION=1"' % (
        f"{USER}@{DOMAIN}".encode(), v)
    assert _catenate(c, b"b", b"TEXT " + lit(b"Subject: s\r\n\r\n"), url,
                     b'URL "/INBOX/;UID=1/;PARTIAL=2.5"')[0].startswith(b"b OK")
    assert imap.folder("Archive").read_message(2) == b"Subject: s\r\n\r\nfirst partom: a"
    assert _catenate(c, b"c", b'URL "/INBOX/;UID=1"')[0].startswith(b"c OK")
    assert imap.folder("Archive").read_message(3) == M1
    for tag, url in ((b"d", b'"/INBOX;UIDVALIDITY=1/;UID=1"'),
                     (b"e", b'"/INBOX/;UID=1/;SECTION=9"'), (b"f", b'"/Nowhere/;UID=1"'),
                     (b"g", b'"/INBOX/;UID=x"'),
                     (b"h", b'"imap://mallory@localhost/INBOX/;UID=1"'), (b"i", b'"../etc"'),
                     (b"j", b'"/INBOX/;UID=1/;SECTION=HEADER.FIELDS (Subject"')):
        lines = _catenate(c, tag, b"TEXT " + lit(b"X: y\r\n\r\n"), b"URL " + url)
        assert lines[0].startswith(tag + b" NO [BADURL "), lines
    assert imap.folder("Archive").status().count == 3
    assert c.cmd(b"k", b"NOOP") == [b"k OK NOOP completed"]


def test_catenate_result_respects_appendlimit(start_imap: StartImap) -> None:
    imap = start_imap(max_message_bytes=1000)
    imap.deliver(b"Subject: s\r\n\r\n" + b"z" * 800 + b"\r\n")
    c = logged_in(imap)
    lines = _catenate(c, b"a", b'URL "/INBOX/;UID=1"', b'URL "/INBOX/;UID=1"')
    assert lines == [b"a NO [TOOBIG] message is larger than APPENDLIMIT 1000"]
