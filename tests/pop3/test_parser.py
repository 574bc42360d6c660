"""The POP3 parser on bytes alone: every command, every malformed shape, and a fuzz test."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmail.pop3.parser import (
    MAX_LINE,
    Auth,
    Command,
    Lang,
    MaybeMessage,
    Message,
    ParseError,
    Pass,
    Top,
    User,
    parse_command,
)


@pytest.mark.parametrize(("line", "expected"), [
    (b"STAT", Command("STAT")),
    (b"stat", Command("STAT")),
    (b"NoOp", Command("NOOP")),
    (b"QUIT", Command("QUIT")),
    (b"RSET", Command("RSET")),
    (b"CAPA", Command("CAPA")),
    (b"STLS", Command("STLS")),
    (b"USER alice@example.com", User("USER", "alice@example.com")),
    (b"PASS secret with  spaces ", Pass("PASS", "secret with  spaces ")),
    (b"PASS p\xc3\xa4ss", Pass("PASS", "p\u00e4ss")),
    (b"LIST", MaybeMessage("LIST", None)),
    (b"LIST 3", MaybeMessage("LIST", 3)),
    (b"UIDL", MaybeMessage("UIDL", None)),
    (b"uidl 12", MaybeMessage("UIDL", 12)),
    (b"RETR 1", Message("RETR", 1)),
    (b"DELE 2147483647", Message("DELE", 2147483647)),
    (b"TOP 1 0", Top("TOP", 1, 0)),
    (b"TOP 4 10", Top("TOP", 4, 10)),
    (b"AUTH", Auth("AUTH", None, None)),
    (b"AUTH plain", Auth("AUTH", "PLAIN", None)),
    (b"AUTH PLAIN =", Auth("AUTH", "PLAIN", b"")),
    (b"AUTH PLAIN AGFsaWNlAHNlY3JldA==", Auth("AUTH", "PLAIN", b"AGFsaWNlAHNlY3JldA==")),
    (b"AUTH LOGIN", Auth("AUTH", "LOGIN", None)),
    (b"UTF8", Command("UTF8")),
    (b"utf8", Command("UTF8")),
    (b"LANG", Lang("LANG", None)),
    (b"LANG en", Lang("LANG", "en")),
    (b"LANG *", Lang("LANG", "*")),
    (b"LANG zh-Hant-TW", Lang("LANG", "zh-Hant-TW")),
])
def test_valid(line: bytes, expected: Command) -> None:
    assert parse_command(line) == expected


@pytest.mark.parametrize("line", [
    b"", b" ", b"XYZZY", b"RETRIEVE 1", b"ST", b"STAT 1", b"QUIT now", b"STAT ",
    b"RETR", b"RETR 0", b"RETR -1", b"RETR 1 2", b"RETR one", b"RETR  1", b"RETR 99999999999",
    b"RETR 2147483648", b"DELE", b"LIST 1 2", b"LIST 0", b"TOP 1", b"TOP 1 x", b"TOP 0 1",
    b"USER", b"USER a b", b"USER \xff", b"PASS", b"PASS ", b"PASS \xff\xfe",
    b"AUTH PL@IN", b"AUTH PLAIN a b", b"AUTH \xff", b"APOP alice 0123456789abcdef",
    b"STAT\0", b"RETR 1\r", b"US\xc3\xa9R x", b"USER " + b"a" * 41,
    b"PASS " + b"x" * (MAX_LINE - 6),
    b"UTF8 USER", b"UTF8 ", b"LANG en fr", b"LANG e_n", b"LANG -en", b"LANG en-",
    b"LANG \xc3\xa9", b"LANG **", b"LANG abcdefghi",
])
def test_malformed(line: bytes) -> None:
    with pytest.raises(ParseError):
        parse_command(line)


def test_line_limit_counts_the_crlf() -> None:
    """RFC 2449 §4: 255 octets including the CRLF."""
    fits = b"PASS " + b"x" * (MAX_LINE - 2 - 5)
    assert parse_command(fits) == Pass("PASS", "x" * (MAX_LINE - 7))
    with pytest.raises(ParseError):
        parse_command(fits + b"x")


@given(st.binary(max_size=300))
def test_fuzz_bytes(line: bytes) -> None:
    """Any bytes: a typed command or ParseError, never another exception."""
    try:
        cmd = parse_command(line)
    except ParseError:
        return
    assert isinstance(cmd, Command) and cmd.name.isupper()


_KEYWORDS = st.sampled_from(["USER", "PASS", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET",
                             "QUIT", "TOP", "UIDL", "CAPA", "STLS", "AUTH", "APOP", "retr"])
_ARGS = st.lists(st.one_of(st.integers(-5, 2**32).map(str), st.text(max_size=12)), max_size=3)


@given(_KEYWORDS, _ARGS)
def test_fuzz_shaped(keyword: str, args: list[str]) -> None:
    line = " ".join([keyword, *args]).encode("utf-8", "surrogatepass")
    try:
        cmd = parse_command(line)
    except ParseError:
        return
    assert cmd.name == keyword.upper()
    if isinstance(cmd, Message | Top):
        assert cmd.number >= 1
