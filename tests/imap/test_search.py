"""SEARCH keys, ESEARCH (RFC 4731), SEARCHRES (RFC 5182), CONDSTORE MODSEQ, SORT, THREAD."""

from __future__ import annotations

import time

from tests.imap.conftest import ImapServer, RawClient, message
from tests.imap.test_fetch import MIXED, selected


def mailbox(imap: ImapServer) -> RawClient:
    imap.deliver(message(1, subject="Lunch plans", body="pizza tonight"), flags=("\\Seen",))
    imap.deliver(message(2, subject="Re: Lunch plans", body="sushi instead",
                         In_Reply_To="<1@example.org>", References="<1@example.org>"),
                 flags=("\\Flagged", "$Work"))
    imap.deliver(MIXED)
    imap.deliver(message(4, subject="Budget", body="x" * 2000,
                         Date="Wed, 10 Jan 2024 10:00:00 +0000", X_Spam="yes"),
                 flags=("\\Deleted",))
    imap.deliver(message(5, subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?=", body="hallo"))
    return selected(imap)


def search(c: RawClient, criteria: bytes) -> bytes:
    lines = c.cmd(b"s", b"SEARCH " + criteria)
    assert lines[-1] == b"s OK SEARCH completed", lines
    return lines[0]


def test_flag_and_size_keys(imap: ImapServer) -> None:
    c = mailbox(imap)
    assert search(c, b"ALL") == b"* SEARCH 1 2 3 4 5"
    assert search(c, b"SEEN") == b"* SEARCH 1"
    assert search(c, b"UNSEEN") == b"* SEARCH 2 3 4 5"
    assert search(c, b"FLAGGED") == b"* SEARCH 2"
    assert search(c, b"DELETED") == b"* SEARCH 4"
    assert search(c, b"UNDELETED UNSEEN") == b"* SEARCH 2 3 5"
    assert search(c, b"KEYWORD $work") == b"* SEARCH 2"
    assert search(c, b"UNKEYWORD $Work") == b"* SEARCH 1 3 4 5"
    assert search(c, b"LARGER 800") == b"* SEARCH 3 4"
    assert search(c, b"SMALLER 200") == b"* SEARCH 1 5"
    assert search(c, b"NEW") == b"* SEARCH 2 3 4 5"  # all arrived before this SELECT
    assert search(c, b"OLD") == b"* SEARCH"


def test_sequence_uid_and_boolean_keys(imap: ImapServer) -> None:
    c = mailbox(imap)
    assert search(c, b"2:3") == b"* SEARCH 2 3"
    assert search(c, b"4:*") == b"* SEARCH 4 5"
    assert search(c, b"UID 1,5") == b"* SEARCH 1 5"
    assert search(c, b"OR SEEN FLAGGED") == b"* SEARCH 1 2"
    assert search(c, b"NOT (OR SEEN OR FLAGGED DELETED)") == b"* SEARCH 3 5"
    assert search(c, b"(1:3 UNSEEN)") == b"* SEARCH 2 3"
    assert c.cmd(b"u", b"UID SEARCH SEEN") == [b"* SEARCH 1", b"u OK UID SEARCH completed"]


def test_header_and_body_keys(imap: ImapServer) -> None:
    c = mailbox(imap)
    assert search(c, b"SUBJECT lunch") == b"* SEARCH 1 2"
    assert search(c, b'SUBJECT "re: lunch"') == b"* SEARCH 2"
    assert search(c, b"FROM sender4") == b"* SEARCH 4"
    assert search(c, b'FROM "Ann Example"') == b"* SEARCH 3"
    assert search(c, b"TO carol") == b"* SEARCH 3"
    assert search(c, 'CHARSET UTF-8 CC "Jörg"'.encode()) == b"* SEARCH 3"
    assert search(c, b"CHARSET UTF-8 SUBJECT {6+}\r\nGr\xc3\xbc\xc3\x9f") == b"* SEARCH 5"
    assert search(c, b"HEADER X-Spam yes") == b"* SEARCH 4"
    assert search(c, b'HEADER X-Spam ""') == b"* SEARCH 4"
    assert search(c, b"HEADER In-Reply-To 1@example") == b"* SEARCH 2"
    assert search(c, b"BODY sushi") == b"* SEARCH 2"
    assert search(c, 'BODY "grüße"'.encode()) == b"* SEARCH 3"  # quoted-printable decoded
    assert search(c, b"BODY binary") == b"* SEARCH"  # attachments are not text
    assert search(c, b"BODY inner") == b"* SEARCH 3"
    assert search(c, b"TEXT Budget") == b"* SEARCH 4"
    assert search(c, b"TEXT pizza") == b"* SEARCH 1"


def test_date_keys(imap: ImapServer) -> None:
    c = mailbox(imap)
    today = time.strftime("%d-%b-%Y", time.gmtime()).encode()
    assert search(c, b"ON " + today) == b"* SEARCH 1 2 3 4 5"
    assert search(c, b"BEFORE 1-Jan-2000") == b"* SEARCH"
    assert search(c, b"SINCE 1-Jan-2000") == b"* SEARCH 1 2 3 4 5"
    assert search(c, b"SENTON 2-Jan-2024") == b"* SEARCH 3"
    assert search(c, b'SENTSINCE "5-Jan-2024"') == b"* SEARCH 4"
    assert search(c, b"SENTBEFORE 2-Jan-2024") == b"* SEARCH 1 2 5"


def test_search_errors(imap: ImapServer) -> None:
    c = mailbox(imap)
    assert c.cmd(b"a", b"SEARCH CHARSET KOI9 ALL") == [
        b"a NO [BADCHARSET (US-ASCII UTF-8)] charset KOI9 is not supported"]
    assert c.cmd(b"b", b"SEARCH FOO")[0].startswith(b"b BAD")
    assert c.cmd(b"c", b"SEARCH SINCE 31-Feb-2024")[0].startswith(b"c BAD invalid date")


def test_esearch_and_searchres(imap: ImapServer) -> None:
    c = mailbox(imap)
    assert c.cmd(b"a", b"SEARCH RETURN (MIN MAX COUNT) UNSEEN") == [
        b'* ESEARCH (TAG "a") MIN 2 MAX 5 COUNT 4', b"a OK SEARCH completed"]
    assert c.cmd(b"b", b"UID SEARCH RETURN () UNSEEN") == [
        b'* ESEARCH (TAG "b") UID ALL 2:5', b"b OK UID SEARCH completed"]
    assert c.cmd(b"c", b"SEARCH RETURN (COUNT) KEYWORD nothing") == [
        b'* ESEARCH (TAG "c") COUNT 0', b"c OK SEARCH completed"]
    assert c.cmd(b"d", b"SEARCH RETURN (SAVE) FLAGGED") == [b"d OK SEARCH completed"]
    assert c.cmd(b"e", b"FETCH $ (UID)") == [b"* 2 FETCH (UID 2)", b"e OK FETCH completed"]
    assert c.cmd(b"f", b"SEARCH RETURN (SAVE MIN) UNSEEN") == [
        b'* ESEARCH (TAG "f") MIN 2', b"f OK SEARCH completed"]
    assert c.cmd(b"g", b"UID SEARCH UID $") == [b"* SEARCH 2", b"g OK UID SEARCH completed"]
    assert c.cmd(b"h", b"UID STORE $ +FLAGS.SILENT (\\Answered)") == [b"h OK UID STORE completed"]
    assert search(c, b"ANSWERED") == b"* SEARCH 2"


def test_modseq_search(imap: ImapServer) -> None:
    c = mailbox(imap)
    c.cmd(b"a", b"STORE 3 +FLAGS (\\Seen)")
    assert c.cmd(b"b", b"SEARCH MODSEQ 6") == [  # RFC 7162 §3.1: the enabling command
        b"* OK [HIGHESTMODSEQ 6] Highest", b"* SEARCH 3 (MODSEQ 6)", b"b OK SEARCH completed"]
    assert c.cmd(b"c", b'SEARCH MODSEQ "/flags/\\\\draft" all 2') == [
        b"* SEARCH 2 3 4 5 (MODSEQ 6)", b"c OK SEARCH completed"]
    assert c.cmd(b"d", b"SEARCH RETURN (MAX) MODSEQ 1") == [
        b'* ESEARCH (TAG "d") MAX 5 MODSEQ 5', b"d OK SEARCH completed"]  # of message 5


def test_sort(imap: ImapServer) -> None:
    c = mailbox(imap)
    assert c.cmd(b"a", b"SORT (SUBJECT) UTF-8 ALL") == [b"* SORT 4 5 1 2 3",
                                                       b"a OK SORT completed"]
    assert c.cmd(b"b", b"SORT (REVERSE SIZE) UTF-8 ALL") == [b"* SORT 4 3 2 5 1",
                                                            b"b OK SORT completed"]
    assert c.cmd(b"c", b"SORT (DATE) UTF-8 UNSEEN") == [b"* SORT 2 5 3 4", b"c OK SORT completed"]
    assert c.cmd(b"d", b"UID SORT (FROM) UTF-8 ALL") == [b"* SORT 3 1 2 4 5",
                                                        b"d OK UID SORT completed"]
    assert c.cmd(b"e", b"SORT (ARRIVAL) UTF-8 2:3") == [b"* SORT 2 3", b"e OK SORT completed"]
    assert c.cmd(b"f", b"SORT (DISPLAYFROM) UTF-8 ALL") == [b"* SORT 3 1 2 4 5",
                                                           b"f OK SORT completed"]


def test_thread(imap: ImapServer) -> None:
    c = mailbox(imap)
    assert c.cmd(b"a", b"THREAD REFERENCES UTF-8 ALL") == [b"* THREAD (1 2)(5)(3)(4)",
                                                          b"a OK THREAD completed"]
    assert c.cmd(b"b", b"THREAD ORDEREDSUBJECT UTF-8 ALL") == [b"* THREAD (1 2)(5)(3)(4)",
                                                              b"b OK THREAD completed"]
    assert c.cmd(b"c", b"UID THREAD REFERENCES UTF-8 2") == [b"* THREAD (2)",
                                                            b"c OK UID THREAD completed"]
    assert c.cmd(b"d", b"THREAD REFERENCES UTF-8 KEYWORD none") == [
        b"* THREAD", b"d OK THREAD completed"]


def test_thread_algorithms_on_records() -> None:
    """RFC 5256 shapes, and a reply chain far deeper than Python's recursion limit."""
    from rmail.imap.sortthread import Info, ordered_subject, references

    def info(n: int, subject: str, refs: list[str], sent: float | None = None,
             mid: str | None = None) -> Info:
        base = subject.removeprefix("Re: ")
        return Info(n, n, n, 100, sent if sent is not None else n, base.upper(),
                    base != subject, mid or f"<{n}@x>", refs)

    msgs = [info(1, "A", []), info(2, "Re: A", ["<1@x>"]), info(3, "Re: A", ["<1@x>"]),
            info(4, "Re: A", ["<1@x>", "<3@x>"]), info(5, "B", []),
            info(6, "Re: C", ["<gone@x>"]), info(7, "Re: C", ["<gone@x>"])]
    assert references(msgs) == "(1 (2)(3 4))(5)((6)(7))"
    assert ordered_subject(msgs) == "(1 (2)(3)(4))(5)(6 7)"
    chain = [info(1, "deep", [])] + [info(n, "Re: deep", [f"<{n - 1}@x>"])
                                      for n in range(2, 5001)]
    assert references(chain) == "(" + " ".join(str(n) for n in range(1, 5001)) + ")"


def test_header_key_reads_raw_8bit_values(imap: ImapServer) -> None:
    """RFC 6532 raw UTF-8 in a header matches as UTF-8; bytes that are not UTF-8 read as
    Latin-1 (the header decoding the JSON API shares), never as U+FFFD."""
    raw = ("From: a@example.org\r\nSubject: x\r\nX-Note: Grüße\r\nX-Old: caf\xe9\r\n\r\nhi\r\n"
           ).encode().replace(b"caf\xc3\xa9", b"caf\xe9")
    c = selected(imap, raw)
    assert search(c, "CHARSET UTF-8 HEADER X-Note \"grüße\"".encode()) == b"* SEARCH 1"
    assert search(c, "CHARSET UTF-8 HEADER X-Old \"café\"".encode()) == b"* SEARCH 1"


def test_header_key_matches_across_a_fold(imap: ImapServer) -> None:
    """A folded field is unfolded by removing its line break only (RFC 5322 §2.2.3), so a
    phrase split over two lines matches with the single space it reads with, as SUBJECT
    (from the header cache) and the JSON API see it."""
    raw = (b"From: a@example.org\r\nSubject: quarterly\r\n report\r\n"
           b"X-Note: alpha\r\n\tbeta\r\n\r\nhi\r\n")
    c = selected(imap, raw)
    assert search(c, b'HEADER X-Note "alpha beta"') == b"* SEARCH 1"
    assert search(c, b'HEADER Subject "quarterly report"') == b"* SEARCH 1"
    assert search(c, b'SUBJECT "quarterly report"') == b"* SEARCH 1"
    assert search(c, b'TEXT "alpha beta"') == b"* SEARCH 1"
