"""IMAP command grammar: the bytes of one complete command in, a typed `Request` out.

No I/O and no session state beyond two switches (`utf8` for mailbox names after ENABLE
UTF8=ACCEPT / IMAP4rev2). The connection loop (`server.py`) has already read the command's
literals; they are still in the bytes exactly as on the wire (`{5}\\r\\nhello`), so the grammar
here is the one of RFC 3501 §9 / RFC 9051 §9 plus the extensions rmail implements.

Every malformed input raises `ParseError` (answered with BAD, or NO where `no` is set); any
other exception escaping from here is a bug, and the fuzz tests look for one.
"""

from __future__ import annotations

import calendar
import codecs
import datetime as dt
import re
from collections.abc import Callable

from rmail.imap import mutf7
from rmail.imap.sequence import MAX_NUMBER, STAR, SequenceSet
from rmail.imap.syntax import (
    And,
    Append,
    AppendMessage,
    Authenticate,
    CancelUpdate,
    CatPart,
    Compress,
    Copy,
    Create,
    Enable,
    Fetch,
    FetchAtt,
    GetMetadata,
    GetQuota,
    Id,
    ListCmd,
    Login,
    Mailbox,
    NoArgs,
    Not,
    Notify,
    NotifyGroup,
    Or,
    QResync,
    Rename,
    Request,
    Search,
    SearchKey,
    SearchNode,
    Section,
    Select,
    SetMetadata,
    SetQuota,
    Sort,
    Status,
    Store,
    Thread,
    UidExpunge,
)

MAX_DEPTH = 32  # nested parentheses in SEARCH and friends
MAX_MODSEQ = (1 << 63) - 1
MAX_ID_PAIRS = 30
MAX_ID_VALUE = 1024
SEARCH_CHARSETS = ("US-ASCII", "UTF-8")


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


_TAG = re.compile(rb"[^(){ %*\"\\+\x00-\x20\x7f-\xff]+")
_ATOM = re.compile(rb"[^(){ %*\"\\\]\x00-\x20\x7f-\xff]+")
_ASTRING_ATOM = re.compile(rb"[^(){ %*\"\\\x00-\x20\x7f-\xff]+")
_LIST_CHARS = re.compile(rb"[^(){ \"\\\x00-\x20\x7f-\xff]+")
_QUOTED = re.compile(rb'"((?:[^"\\\r\n\x00]|\\["\\])*)"')
_QUOTED_PAIR = re.compile(rb'\\(["\\])')
_LITERAL = re.compile(rb"(~?)\{(\d{1,20})(\+?)\}\r\n")
_DIGITS = re.compile(rb"\d+")
_OBJECTID = re.compile(rb"[A-Za-z0-9_-]{1,255}")
_FETCH_NAME = re.compile(rb"[A-Za-z0-9.]+")
_SECTION_TOKEN = re.compile(rb"[A-Za-z0-9.]+")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}|=")
_SEQ_SET = re.compile(rb"[0-9*:,$]+")
_FIELD_NAME = re.compile(r"[!-9;-~]+")
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DATE = re.compile(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4})")
_DATE_TIME = re.compile(
    rb'"([ \d]\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"')

SYSTEM_FLAGS = {f.upper(): f for f in
                ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent")}


class _Reader:
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


# -- commands ---------------------------------------------------------------------------------
Parser = Callable[[_Reader], object]


def _no_args(r: _Reader) -> NoArgs:
    return NoArgs()


def _login(r: _Reader) -> Login:
    r.sp()
    user = r.text(r.astring(), "user name")
    r.sp()
    password = r.text(r.astring(), "password")
    return Login(user, password)


def _authenticate(r: _Reader) -> Authenticate:
    r.sp()
    mech = r.keyword()
    initial = None
    if r.maybe(b" "):
        raw = r.match(_BASE64, "base64 initial response")
        initial = b"" if raw == b"=" else raw
    return Authenticate(mech, initial)


def _enable(r: _Reader) -> Enable:
    caps = []
    r.sp()
    caps.append(r.keyword())
    while r.maybe(b" "):
        caps.append(r.keyword())
    return Enable(tuple(caps))


MAX_METADATA_ENTRIES = 100  # entries named in one GETMETADATA or SETMETADATA


def _metadata_mailbox(r: _Reader) -> str:
    raw = r.astring()
    return "" if raw == b"" else r.mailbox_name(raw)


def _entry(r: _Reader) -> str:
    return r.text(r.astring(), "entry name")


def _setmetadata(r: _Reader) -> SetMetadata:
    r.sp()
    mailbox = _metadata_mailbox(r)
    r.sp()
    r.expect(b"(")
    entries: list[tuple[str, bytes | None]] = []
    while True:
        if len(entries) >= MAX_METADATA_ENTRIES:
            raise r.fail(f"more than {MAX_METADATA_ENTRIES} entries")
        name = _entry(r)
        r.sp()
        if r.maybe_ci(b"NIL"):
            value = None
        elif r.peek() == 0x7E:
            value = r.literal(allow8=True)
        else:
            value = r.string()
        entries.append((name, value))
        if r.maybe(b")"):
            break
        r.sp()
    return SetMetadata(mailbox, tuple(entries))


def _getmetadata(r: _Reader) -> GetMetadata:
    r.sp()
    maxsize: int | None = None
    depth: int | None = 0
    if r.maybe(b"("):
        while True:
            opt = r.keyword()
            r.sp()
            if opt == "MAXSIZE" and maxsize is None:
                maxsize = r.number()
            elif opt == "DEPTH":
                word = r.atom().upper()
                if word not in ("0", "1", "INFINITY"):
                    raise r.fail("DEPTH is 0, 1 or infinity")
                depth = None if word == "INFINITY" else int(word)
            else:
                raise r.fail(f"unknown GETMETADATA option {opt}")
            if r.maybe(b")"):
                break
            r.sp()
        r.sp()
    mailbox = _metadata_mailbox(r)
    r.sp()
    names: list[str] = []
    if r.maybe(b"("):
        names.append(_entry(r))
        while r.maybe(b" "):
            if len(names) >= MAX_METADATA_ENTRIES:
                raise r.fail(f"more than {MAX_METADATA_ENTRIES} entries")
            names.append(_entry(r))
        r.expect(b")")
    else:
        names.append(_entry(r))
    return GetMetadata(mailbox, tuple(names), maxsize, depth)


def _cancelupdate(r: _Reader) -> CancelUpdate:
    tags = []
    while r.maybe(b" "):
        tags.append(r.text(r.string(), "tag"))
    if not tags:
        raise r.fail("expected the tag of a search")
    return CancelUpdate(tuple(tags))


_NOTIFY_FILTERS = ("SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED",
                   "SUBTREE", "MAILBOXES")
MAX_NOTIFY_GROUPS = 50


def _notify_group(r: _Reader) -> NotifyGroup:
    r.expect(b"(")
    kind = r.keyword()
    if kind not in _NOTIFY_FILTERS:
        raise r.fail(f"unknown NOTIFY mailbox filter {kind}")
    boxes: list[str] = []
    if kind in ("SUBTREE", "MAILBOXES"):
        r.sp()
        if r.maybe(b"("):
            boxes.append(r.mailbox())
            while r.maybe(b" "):
                boxes.append(r.mailbox())
            r.expect(b")")
        else:
            boxes.append(r.mailbox())
    r.sp()
    events: list[str] = []
    fetch: list[FetchAtt] = []
    if not r.maybe_ci(b"NONE"):
        r.expect(b"(")
        while True:
            name = r.keyword()
            events.append(name)
            if name == "MESSAGENEW" and r.maybe(b" ("):  # RFC 5465 §5.2: what to FETCH
                fetch.append(_fetch_att(r))
                while r.maybe(b" "):
                    fetch.append(_fetch_att(r))
                r.expect(b")")
            if r.maybe(b")"):
                break
            r.sp()
    r.expect(b")")
    return NotifyGroup(kind, tuple(boxes), tuple(events), tuple(fetch))


def _notify(r: _Reader) -> Notify:
    """NOTIFY (RFC 5465 §8): `NONE` or `SET [STATUS] (filter events)...`."""
    r.sp()
    if r.maybe_ci(b"NONE"):
        return Notify(None)
    if not r.maybe_ci(b"SET"):
        raise r.fail("expected SET or NONE")
    r.sp()
    status = r.maybe_ci(b"STATUS")
    if status:
        r.sp()
    groups = [_notify_group(r)]
    while r.maybe(b" "):
        if len(groups) >= MAX_NOTIFY_GROUPS:
            raise r.fail(f"more than {MAX_NOTIFY_GROUPS} event groups")
        groups.append(_notify_group(r))
    return Notify(tuple(groups), status)


def _id(r: _Reader) -> Id:
    r.sp()
    if r.maybe_ci(b"NIL"):
        return Id(None)
    r.expect(b"(")
    pairs: list[tuple[str, str | None]] = []
    if not r.maybe(b")"):
        while True:
            key = r.string()
            r.sp()
            value = r.nstring()
            if len(key) > MAX_ID_VALUE or (value is not None and len(value) > MAX_ID_VALUE):
                raise r.fail("ID field too long")
            pairs.append((key.decode("utf-8", "replace"),
                          None if value is None else value.decode("utf-8", "replace")))
            if len(pairs) > MAX_ID_PAIRS:
                raise r.fail("too many ID fields")
            if r.maybe(b")"):
                break
            r.sp()
    return Id(tuple(pairs))


def _compress(r: _Reader) -> Compress:
    r.sp()
    return Compress(r.keyword())


def _select(readonly: bool) -> Parser:
    def parse(r: _Reader) -> Select:
        r.sp()
        name = r.mailbox()
        condstore = False
        qresync = None
        if r.maybe(b" "):
            r.expect(b"(")
            while True:
                param = r.keyword()
                if param == "CONDSTORE":
                    condstore = True
                elif param == "QRESYNC":
                    r.sp()
                    qresync = _qresync(r)
                else:
                    raise r.fail(f"unknown SELECT parameter {param}")
                if r.maybe(b")"):
                    break
                r.sp()
        return Select(name, readonly, condstore, qresync)

    return parse


def _qresync(r: _Reader) -> QResync:
    r.expect(b"(")
    uidvalidity = r.nz_number()
    r.sp()
    modseq = r.modseq()
    known = None
    match = None
    if r.maybe(b" "):
        if r.peek() != 0x28:
            known = r.sequence_set()
            if known.saved:
                raise r.fail("$ is not allowed here")
            if r.maybe(b" ") and r.peek() != 0x28:
                raise r.fail("expected sequence match data")
        if r.peek() == 0x28:
            r.expect(b"(")
            seqs = r.sequence_set()
            r.sp()
            uids = r.sequence_set()
            r.expect(b")")
            if seqs.saved or uids.saved:
                raise r.fail("$ is not allowed here")
            match = (seqs, uids)
    r.expect(b")")
    return QResync(uidvalidity, modseq, known, match)


def _mailbox_only(r: _Reader) -> Mailbox:
    r.sp()
    return Mailbox(r.mailbox())


def _create(r: _Reader) -> Create:
    r.sp()
    name = r.mailbox()
    uses: list[str] = []
    if r.maybe(b" "):
        r.expect(b"(")
        while True:
            param = r.keyword()
            if param != "USE":
                raise r.fail(f"unknown CREATE parameter {param}")
            r.sp()
            r.expect(b"(")
            while True:
                r.expect(b"\\")
                uses.append("\\" + r.atom())
                if r.maybe(b")"):
                    break
                r.sp()
            if r.maybe(b")"):
                break
            r.sp()
    return Create(name, tuple(uses))


def _rename(r: _Reader) -> Rename:
    r.sp()
    old = r.mailbox()
    r.sp()
    return Rename(old, r.mailbox())


LIST_SELECT = {"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"}
LIST_RETURN = {"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"}


def _list(r: _Reader) -> ListCmd:
    r.sp()
    select: set[str] = set()
    extended = False
    if r.maybe(b"("):
        extended = True
        if not r.maybe(b")"):
            while True:
                opt = r.keyword()
                if opt not in LIST_SELECT:
                    raise r.fail(f"unknown LIST selection option {opt}")
                select.add(opt)
                if r.maybe(b")"):
                    break
                r.sp()
        r.sp()
        if select == {"RECURSIVEMATCH"} or ("RECURSIVEMATCH" in select
                                           and select <= {"RECURSIVEMATCH", "REMOTE"}):
            raise r.fail("RECURSIVEMATCH needs another selection option")  # RFC 5258 §3
    reference = r.mailbox_name(r.astring())
    r.sp()
    patterns: list[str | None] = []
    if r.maybe(b"("):
        extended = True
        patterns.append(r.list_mailbox())
        while r.maybe(b" "):
            patterns.append(r.list_mailbox())
        r.expect(b")")
    else:
        patterns.append(r.list_mailbox())
    returns: set[str] = set()
    status: tuple[str, ...] | None = None
    if r.maybe(b" "):
        extended = True
        if not r.maybe_ci(b"RETURN"):
            raise r.fail("expected RETURN")
        r.sp()
        r.expect(b"(")
        if not r.maybe(b")"):
            while True:
                opt = r.keyword()
                if opt not in LIST_RETURN:
                    raise r.fail(f"unknown LIST return option {opt}")
                if opt == "STATUS":
                    r.sp()
                    status = _status_items(r)
                returns.add(opt)
                if r.maybe(b")"):
                    break
                r.sp()
    return ListCmd(reference, tuple(p for p in patterns if p is not None), frozenset(select),
                   frozenset(returns), status, extended=extended)


def _lsub(r: _Reader) -> ListCmd:
    r.sp()
    reference = r.mailbox_name(r.astring())
    r.sp()
    pattern = r.list_mailbox()
    return ListCmd(reference, () if pattern is None else (pattern,), lsub=True)


STATUS_ITEMS = {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ",
                "SIZE", "DELETED", "APPENDLIMIT", "MAILBOXID"}


def _status_items(r: _Reader) -> tuple[str, ...]:
    r.expect(b"(")
    items: list[str] = []
    while True:
        item = r.keyword()
        if item not in STATUS_ITEMS:
            raise r.fail(f"unknown STATUS item {item}")
        items.append(item)
        if r.maybe(b")"):
            break
        r.sp()
    return tuple(dict.fromkeys(items))


def _status(r: _Reader) -> Status:
    r.sp()
    name = r.mailbox()
    r.sp()
    return Status(name, _status_items(r))


MAX_APPEND_MESSAGES = 256  # MULTIAPPEND: messages in one command (one journal write)
MAX_CATENATE_PARTS = 100  # CATENATE: parts of one message


def _append(r: _Reader) -> Append:
    """APPEND mailbox message [message ...] (MULTIAPPEND, RFC 3502), each message with its
    optional flags and date, as a literal (literal8 for BINARY, `UTF8 (...)` for RFC 6855) or
    `CATENATE (...)` (RFC 4469)."""
    r.sp()
    name = r.mailbox()
    r.sp()
    messages = [_append_message(r)]
    while r.maybe(b" "):
        if len(messages) >= MAX_APPEND_MESSAGES:
            raise r.fail(f"more than {MAX_APPEND_MESSAGES} messages in one APPEND")
        messages.append(_append_message(r))
    return Append(name, tuple(messages))


def _append_message(r: _Reader) -> AppendMessage:
    flags: tuple[str, ...] = ()
    date = None
    if r.peek() == 0x28:
        flags = r.flag_list()
        r.sp()
    if r.peek() == 0x22:
        date = r.date_time()
        r.sp()
    flags = tuple(f for f in flags if f != "\\Recent")
    if r.maybe_ci(b"CATENATE"):
        r.sp()
        r.expect(b"(")
        parts: list[CatPart] = []
        while True:
            if len(parts) >= MAX_CATENATE_PARTS:
                raise r.fail(f"more than {MAX_CATENATE_PARTS} CATENATE parts")
            if r.maybe_ci(b"URL"):
                r.sp()
                parts.append(CatPart(url=r.text(r.astring(), "URL")))
            elif r.maybe_ci(b"TEXT"):
                r.sp()
                parts.append(CatPart(text=r.literal(allow8=True)))
            else:
                raise r.fail("expected URL or TEXT")
            if r.maybe(b")"):
                break
            r.sp()
        return AppendMessage(flags, date, b"", False, tuple(parts))
    binary = r.peek() == 0x7E
    if r.maybe_ci(b"UTF8"):  # RFC 6855 §4: UTF8 (literal8)
        r.sp()
        r.expect(b"(")
        binary = r.peek() == 0x7E
        message = r.literal(allow8=True)
        r.expect(b")")
    else:
        message = r.literal(allow8=True)
    return AppendMessage(flags, date, message, binary)


# -- SEARCH -----------------------------------------------------------------------------------
_SEARCH_FLAGS = {"ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN", "RECENT", "NEW", "OLD",
                 "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN", "ALL"}
_SEARCH_STRINGS = {"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"}
_SEARCH_DATES = {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"}
SEARCH_RETURN = {"MIN", "MAX", "ALL", "COUNT", "SAVE", "UPDATE", "CONTEXT", "PARTIAL"}


class _SearchParser:
    def __init__(self, r: _Reader, charset: str) -> None:
        self.r = r
        self.charset = charset

    def string(self) -> str:
        raw = self.r.astring()
        try:
            return raw.decode(self.charset)
        except (UnicodeDecodeError, LookupError):
            raise self.r.fail(f"search string is not valid {self.charset}") from None

    def keys(self) -> And:
        r = self.r
        keys = [self.key(0)]
        while r.maybe(b" "):
            keys.append(self.key(0))
        return And(tuple(keys))

    def key(self, depth: int) -> SearchNode:
        r = self.r
        if depth > MAX_DEPTH:
            raise r.fail("search keys are nested too deeply")
        c = r.peek()
        if c == 0x28:  # "("
            r.pos += 1
            keys = [self.key(depth + 1)]
            while r.maybe(b" "):
                keys.append(self.key(depth + 1))
            r.expect(b")")
            return keys[0] if len(keys) == 1 else And(tuple(keys))
        if c == 0x2A or c == 0x24 or 0x30 <= c <= 0x39:  # "*", "$", digit
            return SearchKey("SEQ", r.sequence_set())
        name = r.keyword()
        if name in _SEARCH_FLAGS:
            return SearchKey(name)
        r.sp()
        if name == "NOT":
            return Not(self.key(depth + 1))
        if name == "OR":
            left = self.key(depth + 1)
            r.sp()
            return Or(left, self.key(depth + 1))
        if name in _SEARCH_STRINGS:
            return SearchKey(name, self.string())
        if name in _SEARCH_DATES:
            return SearchKey(name, r.date())
        if name in ("KEYWORD", "UNKEYWORD"):
            return SearchKey(name, r.flag())
        if name in ("LARGER", "SMALLER"):
            return SearchKey(name, r.number(MAX_MODSEQ))
        if name == "UID":
            return SearchKey(name, r.sequence_set())
        if name == "HEADER":
            field = r.text(r.astring(), "header name")
            if not _FIELD_NAME.fullmatch(field):
                raise r.fail("invalid header field name")
            r.sp()
            return SearchKey(name, (field, self.string()))
        if name == "MODSEQ":  # RFC 7162 §3.1.5: [entry-name SP entry-type-req SP] modseq
            if r.peek() in (0x22, 0x7B):
                r.string()
                r.sp()
                kind = r.keyword()
                if kind not in ("PRIV", "SHARED", "ALL"):
                    raise r.fail("invalid MODSEQ entry type")
                r.sp()
            return SearchKey(name, r.modseq(allow_zero=True))
        if name in ("EMAILID", "THREADID"):  # RFC 8474 §6: objectid = 1*255 ALPHA/DIGIT/_/-
            raw = r.astring()
            if not _OBJECTID.fullmatch(raw):
                raise r.fail(f"invalid {name}")
            return SearchKey(name, raw.decode("ascii"))
        if name in ("OLDER", "YOUNGER"):  # RFC 5032 WITHIN
            return SearchKey(name, r.nz_number())
        raise r.fail(f"unknown search key {name}")


def _charset(r: _Reader) -> str:
    raw = r.astring()
    name = raw.decode("ascii", "replace").upper()
    if name in ("US-ASCII", "ASCII", "UTF-8", "UTF8"):
        return "utf-8"
    try:
        codecs.lookup(name)
    except LookupError:
        raise ParseError(f"charset {name} is not supported", code="BADCHARSET (US-ASCII UTF-8)",
                         no=True) from None
    return name


def _search_return(r: _Reader) -> tuple[tuple[str, ...], tuple[int, int] | None]:
    """RETURN (...) of SEARCH (RFC 4731, RFC 5182 SAVE, RFC 5267 UPDATE/CONTEXT/PARTIAL) and
    of SORT (ESORT): the options, and PARTIAL's range as (first, last) with first <= last."""
    r.sp()
    r.expect(b"(")
    opts: list[str] = []
    partial = None
    if not r.maybe(b")"):
        while True:
            opt = r.keyword()
            if opt not in SEARCH_RETURN:
                raise r.fail(f"unknown SEARCH return option {opt}")
            if opt == "PARTIAL":
                if partial is not None:
                    raise r.fail("PARTIAL twice")
                r.sp()
                first = r.nz_number()
                r.expect(b":")
                last = r.nz_number()
                partial = (min(first, last), max(first, last))
            opts.append(opt)
            if r.maybe(b")"):
                break
            r.sp()
    return tuple(dict.fromkeys(opts)), partial


def _search(r: _Reader) -> Search:
    r.sp()
    returns = None
    partial = None
    charset = None
    if r.maybe_ci(b"RETURN"):
        returns, partial = _search_return(r)
        r.sp()
    if r.maybe_ci(b"CHARSET"):
        r.sp()
        charset = _charset(r)
        r.sp()
    criteria = _SearchParser(r, charset or "utf-8").keys()
    return Search(criteria, charset, returns, partial)


SORT_KEYS = {"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM",
             "DISPLAYTO"}


def _sort(r: _Reader) -> Sort:
    r.sp()
    returns = None
    partial = None
    if r.maybe_ci(b"RETURN"):  # ESORT (RFC 5267 §3)
        returns, partial = _search_return(r)
        if "SAVE" in returns:  # (UPDATE: CONTEXT=SORT, RFC 5267 §4)
            raise r.fail("SORT RETURN takes MIN, MAX, ALL, COUNT, PARTIAL, CONTEXT and UPDATE")
        r.sp()
    r.expect(b"(")
    keys: list[tuple[str, bool]] = []
    while True:
        reverse = False
        name = r.keyword()
        if name == "REVERSE":
            reverse = True
            r.sp()
            name = r.keyword()
        if name not in SORT_KEYS:
            raise r.fail(f"unknown sort key {name}")
        keys.append((name, reverse))
        if r.maybe(b")"):
            break
        r.sp()
    r.sp()
    charset = _charset(r)
    r.sp()
    return Sort(tuple(keys), charset, _SearchParser(r, charset).keys(), returns, partial)


THREAD_ALGORITHMS = ("ORDEREDSUBJECT", "REFERENCES")


def _thread(r: _Reader) -> Thread:
    r.sp()
    alg = r.keyword()
    if alg not in THREAD_ALGORITHMS:
        raise r.fail(f"unknown THREAD algorithm {alg}")
    r.sp()
    charset = _charset(r)
    r.sp()
    return Thread(alg, charset, _SearchParser(r, charset).keys())


# -- FETCH ------------------------------------------------------------------------------------
FETCH_SIMPLE = {"ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE",
                "RFC822.TEXT", "BODYSTRUCTURE", "UID", "MODSEQ", "BODY", "EMAILID", "THREADID"}
FETCH_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_MSG_TEXT = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT")


def _section(r: _Reader) -> Section:
    r.expect(b"[")
    if r.maybe(b"]"):
        return Section()
    token = r.match(_SECTION_TOKEN, "a section").decode("ascii").upper()
    comps = token.split(".")
    part: list[int] = []
    while comps and comps[0].isdigit():
        n = comps.pop(0)
        if len(n) > 10 or int(n) == 0 or int(n) > MAX_NUMBER:
            raise r.fail("invalid section part number")
        part.append(int(n))
    text = ".".join(comps) or None
    if text is not None and text not in _MSG_TEXT and not (text == "MIME" and part):
        raise r.fail(f"invalid section {token}")
    fields: tuple[str, ...] = ()
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        r.sp()
        r.expect(b"(")
        names = []
        while True:
            name = r.text(r.astring(), "header name")
            if not _FIELD_NAME.fullmatch(name):
                raise r.fail("invalid header field name")
            names.append(name.upper())
            if r.maybe(b")"):
                break
            r.sp()
        fields = tuple(names)
    r.expect(b"]")
    return Section(tuple(part), text, fields)


def _partial(r: _Reader) -> tuple[int, int] | None:
    if not r.maybe(b"<"):
        return None
    start = r.number()
    r.expect(b".")
    length = r.nz_number()
    r.expect(b">")
    return start, length


def _fetch_att(r: _Reader) -> FetchAtt:
    name = r.match(_FETCH_NAME, "a fetch item").decode("ascii").upper()
    if name in ("BODY", "BODY.PEEK") and r.peek() == 0x5B:
        section = _section(r)
        return FetchAtt("BODY[]", section, _partial(r), name == "BODY.PEEK")
    if name in ("BINARY", "BINARY.PEEK", "BINARY.SIZE"):
        section = _section(r)
        if section.text is not None:
            raise r.fail("BINARY takes a part number only")
        if name == "BINARY.SIZE":
            return FetchAtt("BINARY.SIZE[]", section)
        return FetchAtt("BINARY[]", section, _partial(r), name == "BINARY.PEEK")
    if name in FETCH_SIMPLE:
        return FetchAtt(name)
    raise r.fail(f"unknown fetch item {name}")


def _fetch(uid: bool) -> Parser:
    def parse(r: _Reader) -> Fetch:
        r.sp()
        seq = r.sequence_set()
        r.sp()
        atts: list[FetchAtt] = []
        if r.maybe(b"("):
            atts.append(_fetch_att(r))
            while r.maybe(b" "):
                atts.append(_fetch_att(r))
            r.expect(b")")
        else:
            save = r.pos
            word = r.match(_FETCH_NAME, "a fetch item").decode("ascii").upper()
            if word in FETCH_MACROS:
                atts.extend(FetchAtt(n) for n in FETCH_MACROS[word])
            else:
                r.pos = save
                atts.append(_fetch_att(r))
        changedsince = None
        vanished = False
        if r.maybe(b" "):
            r.expect(b"(")
            while True:
                mod = r.keyword()
                if mod == "CHANGEDSINCE":
                    r.sp()
                    changedsince = r.modseq(allow_zero=True)
                elif mod == "VANISHED" and uid:
                    vanished = True
                else:
                    raise r.fail(f"unknown FETCH modifier {mod}")
                if r.maybe(b")"):
                    break
                r.sp()
            if vanished and changedsince is None:
                raise r.fail("VANISHED needs CHANGEDSINCE")  # RFC 7162 §3.2.6
        if uid and not any(a.name == "UID" for a in atts):
            atts.insert(0, FetchAtt("UID"))
        return Fetch(seq, tuple(atts), uid, changedsince, vanished)

    return parse


def _store(uid: bool) -> Parser:
    def parse(r: _Reader) -> Store:
        r.sp()
        seq = r.sequence_set()
        r.sp()
        unchanged = None
        if r.maybe(b"("):
            if r.keyword() != "UNCHANGEDSINCE":
                raise r.fail("expected UNCHANGEDSINCE")
            r.sp()
            unchanged = r.modseq(allow_zero=True)
            r.expect(b")")
            r.sp()
        item = r.match(_FETCH_NAME_SIGNED, "FLAGS, +FLAGS or -FLAGS").decode("ascii").upper()
        mode = {"+": "add", "-": "remove"}.get(item[:1], "set")
        base = item.lstrip("+-")
        if base not in ("FLAGS", "FLAGS.SILENT") or len(item) - len(base) > 1:
            raise r.fail(f"unknown STORE item {item}")
        r.sp()
        if r.peek() == 0x28:
            flags = r.flag_list()
        else:
            flags_l = [r.flag()]
            while r.maybe(b" "):
                flags_l.append(r.flag())
            flags = tuple(flags_l)
        return Store(seq, mode, tuple(f for f in flags if f != "\\Recent"),
                     base.endswith(".SILENT"), uid, unchanged)

    return parse


_FETCH_NAME_SIGNED = re.compile(rb"[+-]?[A-Za-z.]+")


def _copy(uid: bool) -> Parser:
    def parse(r: _Reader) -> Copy:
        r.sp()
        seq = r.sequence_set()
        r.sp()
        return Copy(seq, r.mailbox(), uid)

    return parse


def _uid_expunge(r: _Reader) -> UidExpunge:
    r.sp()
    return UidExpunge(r.sequence_set())


def _getquota(r: _Reader) -> GetQuota:
    r.sp()
    return GetQuota(r.text(r.astring(), "quota root"))


def _setquota(r: _Reader) -> SetQuota:
    r.sp()
    root = r.text(r.astring(), "quota root")
    r.sp()
    r.expect(b"(")
    limits = []
    if not r.maybe(b")"):
        while True:
            res = r.keyword()
            r.sp()
            limits.append((res, r.number(MAX_MODSEQ)))
            if r.maybe(b")"):
                break
            r.sp()
    return SetQuota(root, tuple(limits))


PARSERS: dict[str, Parser] = {
    "CAPABILITY": _no_args, "NOOP": _no_args, "LOGOUT": _no_args, "STARTTLS": _no_args,
    "LOGIN": _login, "AUTHENTICATE": _authenticate, "ENABLE": _enable, "ID": _id,
    "CANCELUPDATE": _cancelupdate, "GETMETADATA": _getmetadata,
    "SETMETADATA": _setmetadata, "NOTIFY": _notify,
    "COMPRESS": _compress, "NAMESPACE": _no_args, "IDLE": _no_args,
    "SELECT": _select(False), "EXAMINE": _select(True),
    "CREATE": _create, "DELETE": _mailbox_only, "RENAME": _rename,
    "SUBSCRIBE": _mailbox_only, "UNSUBSCRIBE": _mailbox_only,
    "LIST": _list, "LSUB": _lsub, "STATUS": _status, "APPEND": _append,
    "GETQUOTA": _getquota, "GETQUOTAROOT": _mailbox_only, "SETQUOTA": _setquota,
    "CHECK": _no_args, "CLOSE": _no_args, "UNSELECT": _no_args, "EXPUNGE": _no_args,
    "SEARCH": _search, "FETCH": _fetch(False), "STORE": _store(False), "COPY": _copy(False),
    "MOVE": _copy(False), "SORT": _sort, "THREAD": _thread,
    "UID SEARCH": _search, "UID FETCH": _fetch(True), "UID STORE": _store(True),
    "UID COPY": _copy(True), "UID MOVE": _copy(True), "UID EXPUNGE": _uid_expunge,
    "UID SORT": _sort, "UID THREAD": _thread,
}

_COMMAND_NAME = re.compile(rb"[A-Za-z]+")


def parse_tag(data: bytes) -> tuple[str, str] | None:
    """(tag, upper-case command name) from the start of a command line, or None; used by
    the connection loop to decide literal limits before the whole command has arrived."""
    m = _TAG.match(data)
    if m is None or data[m.end():m.end() + 1] != b" ":
        return None
    n = _COMMAND_NAME.match(data, m.end() + 1)
    name = n.group().decode().upper() if n else ""
    return m.group().decode("ascii"), name


def parse_command(data: bytes, *, utf8: bool = False) -> Request:
    """Parse one complete command (without its final CRLF)."""
    r = _Reader(data, utf8)
    m = _TAG.match(data)
    if m is None or data[m.end():m.end() + 1] != b" ":
        raise ParseError("missing or invalid tag")
    tag = m.group().decode("ascii")
    r.pos = m.end() + 1
    try:
        name = r.match(_COMMAND_NAME, "a command name").decode("ascii").upper()
        if name == "UID":
            r.sp()
            name = "UID " + r.match(_COMMAND_NAME, "a command name").decode("ascii").upper()
        parser = PARSERS.get(name)
        if parser is None:
            raise ParseError(f"unknown command {name[:40]}")
        args = parser(r)
        r.end()
    except ParseError as exc:
        exc.tag = tag
        raise
    except RecursionError:
        raise ParseError("command is nested too deeply", tag) from None
    return Request(tag, name, args)


def parse_section(spec: str) -> Section:
    """A section-spec as written in an IMAP URL's `;SECTION=` (RFC 5092), e.g. `1.MIME` or
    `HEADER.FIELDS (Subject)`; ParseError when it is not one."""
    r = _Reader(b"[" + spec.encode("utf-8") + b"]")
    section = _section(r)
    r.end()
    return section
