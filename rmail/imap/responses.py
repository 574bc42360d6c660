"""Rendering values for the wire: strings (quoted or literal), NIL, flag lists, dates,
mailbox names. Pure functions returning bytes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from rmail.imap import mutf7

_SAFE_QUOTED = re.compile(rb'[\x20-\x7e]*')  # printable ASCII: quoted (with \ and " escaped)
_SAFE_QUOTED_UTF8 = re.compile(rb'[^\x00\r\n]*')
_ATOM_SAFE = re.compile(rb"[^(){ %*\"\\\]\x00-\x20\x7f-\xff]+")
MAX_QUOTED = 1024
NIL = b"NIL"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def string(value: str | bytes, utf8: bool = False) -> bytes:
    """A quoted string when it can be one, else a literal."""
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    pattern = _SAFE_QUOTED_UTF8 if utf8 else _SAFE_QUOTED
    if len(data) <= MAX_QUOTED and pattern.fullmatch(data):
        if utf8 and not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return literal(data)
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return literal(data)


def nstring(value: str | bytes | None, utf8: bool = False) -> bytes:
    return NIL if value is None else string(value, utf8)


def astring(value: str | bytes, utf8: bool = False) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    if data and _ATOM_SAFE.fullmatch(data) and data.upper() != NIL:
        return data
    return string(data, utf8)


def literal(data: bytes, binary: bool = False) -> bytes:
    """`{n}CRLF data`, or `~{n}` (literal8, RFC 3516) for binary data with NUL bytes. An
    ordinary literal never carries NUL (RFC 3501 §4.3): one stored before binary APPENDs were
    re-encoded shows as 0x80, as in Dovecot."""
    if b"\x00" in data and not binary:
        data = data.replace(b"\x00", b"\x80")
    prefix = b"~" if binary and b"\x00" in data else b""
    return prefix + b"{%d}\r\n" % len(data) + data


def flag_list(flags: Iterable[str]) -> bytes:
    return b"(" + " ".join(flags).encode("utf-8", "replace") + b")"


def mailbox(name: str, utf8: bool = False) -> bytes:
    """A mailbox name as an astring, modified UTF-7 unless UTF-8 was enabled."""
    if utf8:
        return string(name, utf8=True)
    return string(mutf7.encode(name))


def internaldate(epoch: int) -> bytes:
    """RFC 3501 date-time in UTC: "17-Jul-1996 02:44:25 +0000"."""
    t = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return b'"%02d-%s-%04d %02d:%02d:%02d +0000"' % (
        t.day, _MONTHS[t.month - 1].encode(), t.year, t.hour, t.minute, t.second)


def code_text(code: str | None, text: str) -> bytes:
    out = f"[{code}] {text}" if code else text
    return out.encode("utf-8", "replace").replace(b"\r", b" ").replace(b"\n", b" ")
