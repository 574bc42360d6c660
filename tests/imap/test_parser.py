"""The command grammar on bytes alone (no sockets), including fuzzed input: every input
either parses or raises ParseError, never anything else, and never takes long."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmail.imap.parser import ParseError, parse_command, parse_tag
from rmail.imap.sequence import STAR, SequenceSet
from rmail.imap.syntax import (
    And,
    Append,
    AppendMessage,
    Authenticate,
    CatPart,
    Fetch,
    FetchAtt,
    ListCmd,
    Login,
    Not,
    Or,
    SearchKey,
    Section,
    Select,
    Store,
)


def test_login_with_quoted_and_literal() -> None:
    req = parse_command(b'a1 LOGIN "al\\"ice" {6}\r\nsecret')
    assert req.tag == "a1"
    assert req.name == "LOGIN"
    assert req.args == Login('al"ice', "secret")


def test_command_names_are_case_insensitive() -> None:
    assert parse_command(b"x uid fetch 1 flags").name == "UID FETCH"


def test_unknown_command_keeps_the_tag() -> None:
    with pytest.raises(ParseError) as exc:
        parse_command(b"t1 FROBNICATE")
    assert exc.value.tag == "t1"


@pytest.mark.parametrize("data", [b"", b" NOOP", b"+x NOOP", b"a(b NOOP", b"NOOP"])
def test_bad_tags(data: bytes) -> None:
    with pytest.raises(ParseError) as exc:
        parse_command(data)
    assert exc.value.tag is None


def test_parse_tag_for_framing() -> None:
    assert parse_tag(b"A001 append INBOX {10}") == ("A001", "APPEND")
    assert parse_tag(b"garbage") is None


def test_fetch_items_and_sections() -> None:
    req = parse_command(b"a UID FETCH 1:*,7 (FLAGS BODY.PEEK[1.2.HEADER.FIELDS.NOT (To cc)]"
                        b"<10.20> BINARY[3] BINARY.SIZE[3] RFC822.SIZE) (CHANGEDSINCE 9)")
    args = req.args
    assert isinstance(args, Fetch)
    assert args.sequence == SequenceSet(((1, STAR), (7, 7)))
    assert args.uid and args.changedsince == 9
    assert args.atts == (
        FetchAtt("UID"), FetchAtt("FLAGS"),
        FetchAtt("BODY[]", Section((1, 2), "HEADER.FIELDS.NOT", ("TO", "CC")), (10, 20), True),
        FetchAtt("BINARY[]", Section((3,))), FetchAtt("BINARY.SIZE[]", Section((3,))),
        FetchAtt("RFC822.SIZE"))
    assert str(args.atts[2].section) == "1.2.HEADER.FIELDS.NOT (TO CC)"


def test_fetch_macros() -> None:
    args = parse_command(b"a FETCH 1 FAST").args
    assert isinstance(args, Fetch)
    assert [a.name for a in args.atts] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]


@pytest.mark.parametrize("bad", [
    b"a FETCH 0 FLAGS", b"a FETCH 1:0 FLAGS", b"a FETCH 4294967296 FLAGS", b"a FETCH 1::2 FLAGS",
    b"a FETCH 1,,2 FLAGS", b"a FETCH -1 FLAGS", b"a FETCH 1 BODY[0]", b"a FETCH 1 BODY[MIME]",
    b"a FETCH 1 BODY[1.FOO]", b"a FETCH 1 (FLAGS", b"a FETCH 1 BODY[]<1>",
    b"a FETCH 1 BINARY[TEXT]",
    b"a FETCH 1 FLAGS (VANISHED)", b"a UID FETCH 1 FLAGS (VANISHED)",
])
def test_fetch_errors(bad: bytes) -> None:
    with pytest.raises(ParseError):
        parse_command(bad)


def test_store() -> None:
    args = parse_command(b"a STORE 2:4 (UNCHANGEDSINCE 12) -FLAGS.SILENT \\Seen $Junk").args
    assert args == Store(SequenceSet(((2, 4),)), "remove", ("\\Seen", "$Junk"), True, False, 12)
    with pytest.raises(ParseError):
        parse_command(b"a STORE 1 +FLAGS (\\Bogus)")
    with pytest.raises(ParseError):
        parse_command(b"a STORE 1 *FLAGS (x)")


def test_search_tree() -> None:
    args = parse_command(b'a SEARCH CHARSET UTF-8 OR (FROM "a b" UNSEEN) NOT UID 5:* '
                         b"HEADER X-Spam yes LARGER 10 $").args
    assert args.criteria == And((
        Or(And((SearchKey("FROM", "a b"), SearchKey("UNSEEN"))),
           Not(SearchKey("UID", SequenceSet(((5, STAR),))))),
        SearchKey("HEADER", ("X-Spam", "yes")), SearchKey("LARGER", 10),
        SearchKey("SEQ", SequenceSet(saved=True))))


def test_search_unknown_charset_is_no() -> None:
    with pytest.raises(ParseError) as exc:
        parse_command(b"a SEARCH CHARSET X-NOPE ALL")
    assert exc.value.no and exc.value.code.startswith("BADCHARSET")


def test_search_nesting_is_bounded() -> None:
    with pytest.raises(ParseError):
        parse_command(b"a SEARCH " + b"(" * 10000 + b"ALL" + b")" * 10000)
    with pytest.raises(ParseError):
        parse_command(b"a SEARCH " + b"NOT " * 10000 + b"ALL")


def test_append_with_flags_date_and_literal8() -> None:
    args = parse_command(b'a APPEND Sent (\\Seen) "05-Mar-2024 12:00:00 +0100" ~{3+}\r\na\x00b'
                         ).args
    assert args == Append("Sent", (AppendMessage(("\\Seen",), 1709636400, b"a\x00b", True),))
    with pytest.raises(ParseError):  # NUL only in literal8
        parse_command(b"a APPEND Sent {3}\r\na\x00b")
    args = parse_command(b"a APPEND INBOX UTF8 (~{2}\r\nhi)").args
    assert isinstance(args, Append) and args.message == b"hi"


def test_multiappend_and_catenate() -> None:
    args = parse_command(b"a APPEND INBOX {1+}\r\nx (\\Seen) {1+}\r\ny CATENATE (URL "
                         b'"/INBOX/;UID=1/;SECTION=TEXT" TEXT {2+}\r\nzz)').args
    assert args == Append("INBOX", (
        AppendMessage((), None, b"x"), AppendMessage(("\\Seen",), None, b"y"),
        AppendMessage((), None, b"", False, (CatPart(url="/INBOX/;UID=1/;SECTION=TEXT"),
                                             CatPart(text=b"zz")))))
    for bad in (b"a APPEND INBOX CATENATE ()", b"a APPEND INBOX CATENATE (FOO {1+}\r\nx)",
                b"a APPEND INBOX {1+}\r\nx ", b"a APPEND INBOX {1+}\r\nx  {1+}\r\ny",
                b"a APPEND INBOX " + b"{1+}\r\nx " * 256 + b"{1+}\r\nx"):
        with pytest.raises(ParseError):
            parse_command(bad)


def test_mailbox_names_are_modified_utf7() -> None:
    assert parse_command(b"a SELECT &AOQ-bc").args == Select("\u00e4bc", False)
    assert parse_command(b"a SELECT inbox").args == Select("INBOX", False)
    for bad in (b"a SELECT &AOQ", b"a SELECT &Jjo!-", b"a SELECT &AGE-", b'a SELECT "\xc3\xa4"'):
        with pytest.raises(ParseError):
            parse_command(bad)
    assert parse_command(b'a SELECT "\xc3\xa4"', utf8=True).args == Select("\u00e4", False)


def test_list_extended() -> None:
    args = parse_command(b'a LIST (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" "%") '
                         b"RETURN (CHILDREN STATUS (MESSAGES UNSEEN))").args
    assert args == ListCmd("", ("INBOX", "%"), frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}),
                           frozenset({"CHILDREN", "STATUS"}), ("MESSAGES", "UNSEEN"),
                           extended=True)
    with pytest.raises(ParseError):
        parse_command(b'a LIST (RECURSIVEMATCH) "" *')


def test_authenticate_initial_response() -> None:
    assert parse_command(b"a AUTHENTICATE plain AGEAYg==").args == Authenticate("PLAIN",
                                                                                 b"AGEAYg==")
    assert parse_command(b"a AUTHENTICATE PLAIN =").args == Authenticate("PLAIN", b"")


def test_select_qresync() -> None:
    sel = parse_command(b"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211))").args
    assert isinstance(sel, Select) and sel.qresync is not None
    assert sel.qresync.uidvalidity == 67890007
    assert sel.qresync.known_uids == SequenceSet(((41, 41), (43, 211)))


def test_literal_shorter_than_announced() -> None:
    with pytest.raises(ParseError):
        parse_command(b"a LOGIN {10}\r\nab")


# -- fuzzing ----------------------------------------------------------------------------------
COMMANDS = [b"FETCH", b"UID FETCH", b"STORE", b"SEARCH", b"UID SEARCH", b"LIST", b"SELECT",
            b"APPEND", b"LOGIN", b"STATUS", b"SORT", b"THREAD", b"CREATE", b"COPY", b"ID",
            b"ENABLE", b"AUTHENTICATE", b"RENAME", b"UID EXPUNGE", b"EXAMINE"]
TOKENS = [b" ", b"(", b")", b"[", b"]", b"<", b">", b".", b"*", b"%", b":", b",", b"$", b'"',
          b"\\", b"{", b"}", b"{3}\r\n", b"{0+}\r\n", b"~{2}\r\n", b"NIL", b"1", b"0", b"42",
          b"4294967296", b"BODY", b"BODY.PEEK", b"HEADER.FIELDS", b"TEXT", b"MIME", b"FLAGS",
          b"\\Seen", b"OR", b"NOT", b"UID", b"INBOX", b"&AOQ-", b"&", b"-", b"RETURN",
          b"CHARSET", b"UTF-8", b"CHANGEDSINCE", b"QRESYNC", b"\r\n", b"\x00", b"\xff", b"abc"]


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(COMMANDS), st.lists(st.sampled_from(TOKENS), max_size=30),
       st.booleans())
def test_fuzz_token_soup(command: bytes, tokens: list[bytes], utf8: bool) -> None:
    data = b"t1 " + command + b" " + b"".join(tokens)
    try:
        parse_command(data, utf8=utf8)
    except ParseError:
        pass


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    try:
        parse_command(data)
    except ParseError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(COMMANDS), st.binary(max_size=200))
def test_fuzz_after_a_valid_prefix(command: bytes, tail: bytes) -> None:
    try:
        parse_command(b"t1 " + command + b" " + tail)
    except ParseError:
        pass
