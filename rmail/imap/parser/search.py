"""Parsers of SEARCH, SORT and THREAD: the search keys (RFC 3501 §6.4.4 and the extensions
rmail implements), charsets, and the RETURN options of ESEARCH and ESORT."""

from __future__ import annotations

import codecs
import re

from rmail.imap.parser.reader import FIELD_NAME, MAX_MODSEQ, ParseError, Parser, Reader
from rmail.imap.syntax import (
    And,
    Not,
    Or,
    Search,
    SearchKey,
    SearchNode,
    Sort,
    Thread,
)

MAX_DEPTH = 32  # nested parentheses in SEARCH and friends
SEARCH_CHARSETS = ("US-ASCII", "UTF-8")
_OBJECTID = re.compile(rb"[A-Za-z0-9_-]{1,255}")

_SEARCH_FLAGS = {"ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN", "RECENT", "NEW", "OLD",
                 "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN", "ALL"}
_SEARCH_STRINGS = {"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"}
_SEARCH_DATES = {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"}
SEARCH_RETURN = {"MIN", "MAX", "ALL", "COUNT", "SAVE", "UPDATE", "CONTEXT", "PARTIAL"}


class _SearchParser:
    def __init__(self, r: Reader, charset: str) -> None:
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
            if not FIELD_NAME.fullmatch(field):
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


def _charset(r: Reader) -> str:
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


def _search_return(r: Reader) -> tuple[tuple[str, ...], tuple[int, int] | None]:
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


def _search(r: Reader) -> Search:
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


def _sort(r: Reader) -> Sort:
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


def _thread(r: Reader) -> Thread:
    r.sp()
    alg = r.keyword()
    if alg not in THREAD_ALGORITHMS:
        raise r.fail(f"unknown THREAD algorithm {alg}")
    r.sp()
    charset = _charset(r)
    r.sp()
    return Thread(alg, charset, _SearchParser(r, charset).keys())


PARSERS: dict[str, Parser] = {
    "SEARCH": _search, "SORT": _sort, "THREAD": _thread,
    "UID SEARCH": _search, "UID SORT": _sort, "UID THREAD": _thread,
}
