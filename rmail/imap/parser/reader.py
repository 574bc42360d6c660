"""The IMAP grammar's terminals: `Reader`, a cursor over one command's bytes with one method
per rule (atoms, strings and literals, mailbox names, flags, sequence sets, dates), and the
`ParseError` every malformed input raises."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable

from rmail.imap import mutf7
from rmail.imap.sequence import MAX_NUMBER, STAR, SequenceSet

MAX_MODSEQ = (1 << 63) - 1


class ParseError(Exception):
    """Malformed command. `tag` is known once the tag was read; `no` asks for NO instead of
    BAD (e.g. an unknown SEARCH charset: RFC 3501 §6.4.4 wants NO [BADCHARSET])."""

    def __init__(self, text: str, tag: str | None = None, code: str | None = None,
                 no: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.tag = tag
        self.code = code
        self.no = no



_ATOM = re.compile(rb"[^(){ %*\"\\\]\x00-\x20\x7f-\xff]+")
_ASTRING_ATOM = re.compile(rb"[^(){ %*\"\\\x00-\x20\x7f-\xff]+")
_LIST_CHARS = re.compile(rb"[^(){ \"\\\x00-\x20\x7f-\xff]+")
_QUOTED = re.compile(rb'"((?:[^"\\\r\n\x00]|\\["\\])*)"')
_QUOTED_PAIR = re.compile(rb'\\(["\\])')
_LITERAL = re.compile(rb"(~?)\{(\d{1,20})(\+?)\}\r\n")
_DIGITS = re.compile(rb"\d+")
_SEQ_SET = re.compile(rb"[0-9*:,$]+")
FIELD_NAME = re.compile(r"[!-9;-~]+")
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DATE = re.compile(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4})")
_DATE_TIME = re.compile(
    rb'"([ \d]\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"')

SYSTEM_FLAGS = {f.upper(): f for f in
                ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent")}


class Reader:
    """A cursor over the command bytes with one method per grammar rule."""

    __slots__ = ("data", "pos", "utf8")

    def __init__(self, data: bytes, utf8: bool = False) -> None:
        self.data = data
        self.pos = 0
        self.utf8 = utf8

    # -- basics ---------------------------------------------------------------------------
    def fail(self, what: str) -> ParseError:
        return ParseError(f"{what} at byte {self.pos}")

    def peek(self) -> int:
        return self.data[self.pos] if self.pos < len(self.data) else -1

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def expect(self, token: bytes) -> None:
        if not self.data.startswith(token, self.pos):
            raise self.fail(f"expected {token.decode()!r}")
        self.pos += len(token)

    def maybe(self, token: bytes) -> bool:
        if self.data.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def maybe_ci(self, word: bytes) -> bool:
        """A case-insensitive keyword followed by a space, ")" or the end."""
        end = self.pos + len(word)
        if self.data[self.pos:end].upper() == word and (
                end == len(self.data) or self.data[end:end + 1] in (b" ", b")")):
            self.pos = end
            return True
        return False

    def sp(self) -> None:
        if self.peek() != 0x20:
            raise self.fail("expected a space")
        self.pos += 1

    def match(self, pattern: re.Pattern[bytes], what: str) -> bytes:
        m = pattern.match(self.data, self.pos)
        if m is None:
            raise self.fail(f"expected {what}")
        self.pos = m.end()
        return m.group()

    def end(self) -> None:
        if not self.at_end():
            raise self.fail("unexpected characters after the command")

    # -- atoms, numbers, strings ------------------------------------------------------------
    def atom(self) -> str:
        return self.match(_ATOM, "an atom").decode("ascii")

    def keyword(self) -> str:
        return self.atom().upper()

    def number(self, limit: int = MAX_NUMBER) -> int:
        digits = self.match(_DIGITS, "a number")
        if len(digits) > 20 or int(digits) > limit:
            raise self.fail("number out of range")
        return int(digits)

    def nz_number(self) -> int:
        n = self.number()
        if n == 0:
            raise self.fail("zero is not allowed here")
        return n

    def modseq(self, allow_zero: bool = False) -> int:
        n = self.number(MAX_MODSEQ)
        if n == 0 and not allow_zero:
            raise self.fail("a mod-sequence must not be zero")
        return n

    def literal(self, allow8: bool = False) -> bytes:
        m = _LITERAL.match(self.data, self.pos)
        if m is None:
            raise self.fail("expected a literal")
        if m.group(1) and not allow8:
            raise self.fail("literal8 is not allowed here")
        size = int(m.group(2))
        start = m.end()
        if start + size > len(self.data):
            raise self.fail("literal is shorter than announced")
        self.pos = start + size
        data = self.data[start:self.pos]
        if not m.group(1) and b"\x00" in data:
            raise self.fail("NUL in a literal (use literal8)")
        return data

    def quoted(self) -> bytes:
        m = _QUOTED.match(self.data, self.pos)
        if m is None:
            raise self.fail("malformed quoted string")
        self.pos = m.end()
        return _QUOTED_PAIR.sub(rb"\1", m.group(1))

    def string(self) -> bytes:
        c = self.peek()
        if c == 0x22:
            return self.quoted()
        if c == 0x7B:
            return self.literal()
        raise self.fail("expected a string")

    def astring(self) -> bytes:
        c = self.peek()
        if c in (0x22, 0x7B):
            return self.string()
        return self.match(_ASTRING_ATOM, "an astring")

    def nstring(self) -> bytes | None:
        if self.maybe_ci(b"NIL"):
            return None
        return self.string()

    def text(self, raw: bytes, what: str = "string") -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not valid UTF-8") from None

    # -- mailboxes ------------------------------------------------------------------------
    def mailbox_name(self, raw: bytes) -> str:
        if raw.upper() == b"INBOX":
            return "INBOX"
        if self.utf8:
            return self.text(raw, "mailbox name")
        try:
            return mutf7.decode(raw)
        except mutf7.MUTF7Error as exc:  # a name no mailbox can have: NO, as Dovecot does
            err = self.fail(f"mailbox name: {exc}")
            err.no = True
            raise err from None

    def mailbox(self) -> str:
        return self.mailbox_name(self.astring())

    def list_mailbox(self) -> str | None:
        """A LIST pattern; None for one that is not valid modified UTF-7 (it matches no
        mailbox: LIST answers OK with nothing rather than BAD)."""
        c = self.peek()
        raw = self.string() if c in (0x22, 0x7B) else self.match(_LIST_CHARS, "a pattern")
        if not raw:
            return ""
        if self.utf8:
            return self.text(raw, "pattern")
        try:
            return mutf7.decode(raw)
        except mutf7.MUTF7Error:
            return None

    # -- flags ----------------------------------------------------------------------------
    def flag(self) -> str:
        if self.maybe(b"\\"):
            name = "\\" + self.atom()
            canon = SYSTEM_FLAGS.get(name.upper())
            if canon is None:
                raise self.fail(f"unknown system flag {name}")
            return canon
        return self.atom()

    def flag_list(self) -> tuple[str, ...]:
        self.expect(b"(")
        flags: list[str] = []
        if not self.maybe(b")"):
            flags.append(self.flag())
            while self.maybe(b" "):
                flags.append(self.flag())
            self.expect(b")")
        return tuple(flags)

    # -- sequence sets --------------------------------------------------------------------
    def sequence_set(self) -> SequenceSet:
        raw = self.match(_SEQ_SET, "a sequence set")
        if raw == b"$":
            return SequenceSet(saved=True)
        ranges: list[tuple[int, int]] = []
        for item in raw.split(b","):
            a, colon, b = item.partition(b":")
            if b":" in b:
                raise self.fail("malformed sequence range")
            lo = self._seq_number(a)
            ranges.append((lo, self._seq_number(b) if colon else lo))
        return SequenceSet(tuple(ranges))

    def _seq_number(self, raw: bytes) -> int:
        if raw == b"*":
            return STAR
        if not raw.isdigit() or len(raw) > 10 or int(raw) == 0 or int(raw) > MAX_NUMBER:
            raise self.fail(f"invalid sequence number {raw[:20].decode('ascii', 'replace')!r}")
        return int(raw)

    # -- dates ----------------------------------------------------------------------------
    def date(self) -> int:
        """search date -> proleptic ordinal day."""
        quoted = self.maybe(b'"')
        raw = self.match(_DATE, "a date (1-Jan-2024)")
        if quoted:
            self.expect(b'"')
        m = _DATE.fullmatch(raw)
        assert m is not None
        month = _MONTHS.get(m.group(2).decode().upper())
        try:
            if month is None:
                raise ValueError("month")
            return dt.date(int(m.group(3)), month, int(m.group(1))).toordinal()
        except ValueError:
            raise self.fail("invalid date") from None

    def date_time(self) -> int:
        m = _DATE_TIME.match(self.data, self.pos)
        if m is None:
            raise self.fail('expected a date-time ("01-Jan-2024 10:00:00 +0000")')
        self.pos = m.end()
        day, mon, year, hh, mm, ss, sign, zh, zm = (g.decode() for g in m.groups())
        month = _MONTHS.get(mon.upper())
        try:
            if month is None:
                raise ValueError("month")
            offset = (int(zh) * 60 + int(zm)) * (1 if sign == "+" else -1)
            when = dt.datetime(int(year), month, int(day.strip()), int(hh), int(mm), int(ss),
                               tzinfo=dt.timezone(dt.timedelta(minutes=offset)))
        except ValueError:
            raise self.fail("invalid date-time") from None
        return int(when.timestamp())


Parser = Callable[[Reader], object]
