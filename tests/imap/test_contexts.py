"""ESORT and CONTEXT=SEARCH (RFC 5267): RETURN options on SORT, PARTIAL windows, live
SEARCH results (ADDTO/REMOVEFROM) and CANCELUPDATE, in raw IMAP."""

from __future__ import annotations

from tests.imap.conftest import ImapServer, RawClient
from tests.imap.test_fetch import selected


def _msg(n: int, subject: str) -> bytes:
    return (f"From: p{n}@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <c{n}@example.org>\r\n\r\nbody\r\n").encode()


def _five(imap: ImapServer):  # type: ignore[no-untyped-def]
    for n, subject in enumerate(("d", "b", "e", "a", "c"), 1):
        imap.folder().append(_msg(n, subject), (), 1_700_000_000 + n)
    return selected(imap)


def test_esort_return_options(imap: ImapServer) -> None:
    c = _five(imap)
    assert c.cmd(b"a", b"SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL")[0] == (
        b'* ESEARCH (TAG "a") MIN 4 MAX 3 COUNT 5')  # first and last in sort order
    assert c.cmd(b"b", b"SORT RETURN (ALL) (SUBJECT) UTF-8 ALL")[0] == (
        b'* ESEARCH (TAG "b") ALL 4,2,5,1,3')
    assert c.cmd(b"c", b"UID SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL")[0] == (
        b'* ESEARCH (TAG "c") UID ALL 5,4,3,2,1')
    assert c.cmd(b"d", b"SORT RETURN (PARTIAL 4:2) (SUBJECT) UTF-8 ALL")[0] == (
        b'* ESEARCH (TAG "d") PARTIAL (2:4 2,5,1)')
    assert c.cmd(b"e", b"SORT RETURN (COUNT) (SUBJECT) UTF-8 SUBJECT zzz")[0] == (
        b'* ESEARCH (TAG "e") COUNT 0')
    for bad in (b"SORT RETURN (PARTIAL 1) (SUBJECT) UTF-8 ALL",
                b"SORT RETURN (PARTIAL 1:*) (SUBJECT) UTF-8 ALL",
                b"SORT RETURN (SAVE) (SUBJECT) UTF-8 ALL",
                b"SORT RETURN (BOGUS) (SUBJECT) UTF-8 ALL"):
        assert c.cmd(b"f", bad)[0].startswith(b"f BAD"), bad


def test_search_partial(imap: ImapServer) -> None:
    c = _five(imap)
    assert c.cmd(b"a", b"SEARCH RETURN (PARTIAL 2:3) 1:2,4:5")[0] == (
        b'* ESEARCH (TAG "a") PARTIAL (2:3 2,4)')
    assert c.cmd(b"b", b"UID SEARCH RETURN (PARTIAL 6:9) ALL")[0] == (
        b'* ESEARCH (TAG "b") UID PARTIAL (6:9 NIL)')
    assert c.cmd(b"c", b"SEARCH RETURN (CONTEXT) ALL")[0] == b'* ESEARCH (TAG "c") ALL 1:5'


def cmd(c: RawClient, tag: bytes, command: bytes) -> list[bytes]:
    """A command's lines without `* n RECENT` (not what these tests look at)."""
    return [x for x in c.cmd(tag, command) if not x.endswith(b" RECENT")]


def test_live_search_updates_until_cancelled(imap: ImapServer) -> None:
    c = _five(imap)
    assert cmd(c, b"s1", b"SEARCH RETURN (UPDATE ALL) SEEN") == [
        b'* ESEARCH (TAG "s1")', b"s1 OK SEARCH completed"]
    assert cmd(c, b"a", b"STORE 1,2,4 +FLAGS.SILENT (\\Seen)") == [
        b'* ESEARCH (TAG "s1") ADDTO (0 1:2,4)', b"a OK STORE completed"]
    assert cmd(c, b"b", b"STORE 1 -FLAGS.SILENT (\\Seen)") == [
        b'* ESEARCH (TAG "s1") REMOVEFROM (0 1)', b"b OK STORE completed"]
    cmd(c, b"c", b"STORE 4 +FLAGS.SILENT (\\Deleted)")
    assert cmd(c, b"d", b"EXPUNGE") == [
        b'* ESEARCH (TAG "s1") REMOVEFROM (0 4)', b"* 4 EXPUNGE", b"d OK EXPUNGE completed"]
    imap.folder().append(_msg(6, "f"), ("\\Seen",))  # another session's delivery
    assert cmd(c, b"e", b"NOOP") == [b"* 5 EXISTS", b'* ESEARCH (TAG "s1") ADDTO (0 5)',
                                    b"e OK NOOP completed"]
    assert cmd(c, b"u1", b"UID SEARCH RETURN (UPDATE) SUBJECT f")[0] == b'* ESEARCH (TAG "u1") UID'
    imap.folder().store_flags([6], "remove", ["\\Seen"])
    assert cmd(c, b"g", b"NOOP") == [b"* 5 FETCH (UID 6 FLAGS (\\Recent))",
                                    b'* ESEARCH (TAG "s1") REMOVEFROM (0 5)',
                                    b"g OK NOOP completed"]
    assert cmd(c, b"h", b'CANCELUPDATE "s1" "u1"') == [b"h OK CANCELUPDATE completed"]
    assert cmd(c, b"i", b"STORE 2 -FLAGS.SILENT (\\Seen)") == [b"i OK STORE completed"]
    assert cmd(c, b"j", b'CANCELUPDATE "s1"')[0].startswith(b"j NO ")
    assert cmd(c, b"k", b"SEARCH RETURN (UPDATE PARTIAL 1:2) ALL")[0].startswith(
        b'k NO [NOUPDATE "k"]')
    cmd(c, b"l", b"SEARCH RETURN (UPDATE) ALL")
    cmd(c, b"m", b"UNSELECT")
    cmd(c, b"n", b"SELECT INBOX")  # contexts end with the selection
    assert cmd(c, b"o", b"STORE 1 +FLAGS.SILENT (\\Flagged)") == [b"o OK STORE completed"]
