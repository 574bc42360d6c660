"""Parsers of the commands on the selected mailbox's messages: FETCH (its items and section
specs, also read from IMAP URLs by `parse_section`), STORE, COPY, MOVE and UID EXPUNGE."""

from __future__ import annotations

import re

from rmail.imap.parser.reader import FIELD_NAME, Parser, Reader
from rmail.imap.sequence import MAX_NUMBER
from rmail.imap.syntax import (
    Copy,
    Fetch,
    FetchAtt,
    Section,
    Store,
    UidExpunge,
)

_FETCH_NAME = re.compile(rb"[A-Za-z0-9.]+")
_SECTION_TOKEN = re.compile(rb"[A-Za-z0-9.]+")
FETCH_SIMPLE = {"ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE",
                "RFC822.TEXT", "BODYSTRUCTURE", "UID", "MODSEQ", "BODY", "EMAILID", "THREADID"}
FETCH_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_MSG_TEXT = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT")


def _section(r: Reader) -> Section:
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
            if not FIELD_NAME.fullmatch(name):
                raise r.fail("invalid header field name")
            names.append(name.upper())
            if r.maybe(b")"):
                break
            r.sp()
        fields = tuple(names)
    r.expect(b"]")
    return Section(tuple(part), text, fields)


def _partial(r: Reader) -> tuple[int, int] | None:
    if not r.maybe(b"<"):
        return None
    start = r.number()
    r.expect(b".")
    length = r.nz_number()
    r.expect(b">")
    return start, length


def fetch_att(r: Reader) -> FetchAtt:
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
    def parse(r: Reader) -> Fetch:
        r.sp()
        seq = r.sequence_set()
        r.sp()
        atts: list[FetchAtt] = []
        if r.maybe(b"("):
            atts.append(fetch_att(r))
            while r.maybe(b" "):
                atts.append(fetch_att(r))
            r.expect(b")")
        else:
            save = r.pos
            word = r.match(_FETCH_NAME, "a fetch item").decode("ascii").upper()
            if word in FETCH_MACROS:
                atts.extend(FetchAtt(n) for n in FETCH_MACROS[word])
            else:
                r.pos = save
                atts.append(fetch_att(r))
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
    def parse(r: Reader) -> Store:
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
    def parse(r: Reader) -> Copy:
        r.sp()
        seq = r.sequence_set()
        r.sp()
        return Copy(seq, r.mailbox(), uid)

    return parse


def _uid_expunge(r: Reader) -> UidExpunge:
    r.sp()
    return UidExpunge(r.sequence_set())



def parse_section(spec: str) -> Section:
    """A section-spec as written in an IMAP URL's `;SECTION=` (RFC 5092), e.g. `1.MIME` or
    `HEADER.FIELDS (Subject)`; ParseError when it is not one."""
    r = Reader(b"[" + spec.encode("utf-8") + b"]")
    section = _section(r)
    r.end()
    return section


PARSERS: dict[str, Parser] = {
    "FETCH": _fetch(False), "STORE": _store(False), "COPY": _copy(False),
    "MOVE": _copy(False),
    "UID FETCH": _fetch(True), "UID STORE": _store(True),
    "UID COPY": _copy(True), "UID MOVE": _copy(True), "UID EXPUNGE": _uid_expunge,
}
