"""STORE and UID STORE: modes, .SILENT, keywords and FLAGS announcements, CONDSTORE
UNCHANGEDSINCE with [MODIFIED]."""

from __future__ import annotations

from tests.imap.conftest import ImapServer, message
from tests.imap.test_fetch import selected


def test_store_modes(imap: ImapServer) -> None:
    c = selected(imap, message(1), message(2))
    assert c.cmd(b"a", b"STORE 1:2 +FLAGS (\\Seen \\Flagged)") == [
        b"* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent))",
        b"* 2 FETCH (FLAGS (\\Flagged \\Seen \\Recent))",
        b"a OK STORE completed"]
    assert c.cmd(b"b", b"STORE 1 -FLAGS \\Flagged") == [
        b"* 1 FETCH (FLAGS (\\Seen \\Recent))", b"b OK STORE completed"]
    assert c.cmd(b"c", b"STORE 2 FLAGS (\\Draft)") == [
        b"* 2 FETCH (FLAGS (\\Draft \\Recent))", b"c OK STORE completed"]
    assert c.cmd(b"d", b"STORE 1:* +FLAGS.SILENT (\\Answered)") == [b"d OK STORE completed"]
    assert c.cmd(b"e", b"UID STORE 2 -FLAGS (\\Answered)") == [
        b"* 2 FETCH (UID 2 FLAGS (\\Draft \\Recent))", b"e OK UID STORE completed"]
    assert [r.flags for r in imap.folder().records(newest_first=False)] == [
        ("\\Answered", "\\Seen"), ("\\Draft",)]


def test_store_unchanged_flags_still_reported(imap: ImapServer) -> None:
    c = selected(imap, message(1))
    c.cmd(b"a", b"STORE 1 +FLAGS (\\Seen)")
    assert c.cmd(b"b", b"STORE 1 +FLAGS (\\Seen)") == [b"* 1 FETCH (FLAGS (\\Seen \\Recent))",
                                                        b"b OK STORE completed"]


def test_new_keyword_announces_flags(imap: ImapServer) -> None:
    c = selected(imap, message(1))
    assert c.cmd(b"a", b"STORE 1 +FLAGS ($Important)") == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important \\*)] "
        b"Flags permitted",
        b"* 1 FETCH (FLAGS ($Important \\Recent))", b"a OK STORE completed"]


def test_store_errors(imap: ImapServer) -> None:
    c = selected(imap, message(1))
    assert c.cmd(b"a", b"STORE 2 +FLAGS (\\Seen)") == [
        b"a BAD message sequence number 2 does not exist"]
    assert c.cmd(b"b", b"STORE 1 +FLAGS (\\Recent)") == [b"* 1 FETCH (FLAGS (\\Recent))",
                                                          b"b OK STORE completed"]
    assert c.cmd(b"c", b"STORE 1 +FLAGS (\\Bogus)")[0].startswith(b"c BAD unknown system flag")
    assert c.cmd(b"d", b"UID STORE 77 +FLAGS (\\Seen)") == [b"d OK UID STORE completed"]


def test_unchangedsince(imap: ImapServer) -> None:
    c = selected(imap, message(1), message(2), message(3))
    imap.folder().store_flags([2], "add", ["\\Flagged"])  # modseq 4, by someone else
    assert c.cmd(b"a", b"STORE 1:3 (UNCHANGEDSINCE 3) +FLAGS.SILENT (\\Seen)") == [
        b"* OK [HIGHESTMODSEQ 3] Highest",  # RFC 7162 §3.1: CONDSTORE enabled while selected
        b"* 1 FETCH (UID 1 MODSEQ (5))", b"* 3 FETCH (UID 3 MODSEQ (5))",
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ (4))",  # someone else's change
        b"a OK [MODIFIED 2] Conditional STORE failed"]
    assert c.cmd(b"b", b"UID STORE 2 (UNCHANGEDSINCE 4) +FLAGS (\\Seen)") == [
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Seen \\Recent) MODSEQ (6))",
        b"b OK UID STORE completed"]
    assert c.cmd(b"c", b"UID STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS (\\Draft)") == [
        b"c OK [MODIFIED 1:3] Conditional STORE failed"]
