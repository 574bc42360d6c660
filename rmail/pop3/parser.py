"""POP3 command lines to typed commands (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034
AUTH, RFC 6856 UTF8). Pure: bytes in, a `Command` out or `ParseError`; no state, no I/O.

Framing is the connection's job; this module sees one line without its CRLF. RFC 2449 §4
limits a command line to 255 octets including the CRLF (`MAX_LINE`), keywords to 4 characters
and each argument to 40, except PASS, whose argument is the rest of the line (RFC 1939 §7
lets a password contain spaces), and AUTH's initial response (RFC 5034 §4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE = 255  # octets, CRLF included (RFC 2449 §4)
MAX_ARG = 40  # octets per argument (RFC 2449 §4)
MAX_NUMBER = 2**31 - 1  # message numbers and line counts beyond this are nonsense

_KEYWORD = re.compile(rb"[A-Za-z0-9]{3,4}\Z")
_MECHANISM = re.compile(r"[A-Z0-9_-]{1,20}\Z")
_DIGITS = re.compile(rb"[0-9]{1,10}\Z")


class ParseError(ValueError):
    """A malformed command line; `str(exc)` is the text of the `-ERR` reply."""


@dataclass(frozen=True, slots=True)
class Command:
    """The keyword every command has; subclasses add their arguments."""

    name: str


@dataclass(frozen=True, slots=True)
class User(Command):
    user: str


@dataclass(frozen=True, slots=True)
class Pass(Command):
    password: str


@dataclass(frozen=True, slots=True)
class Auth(Command):
    """AUTH without a mechanism lists the mechanisms (RFC 5034 §4 / de-facto clients)."""

    mechanism: str | None
    initial: bytes | None  # None: no initial response; b"" was sent as "="


@dataclass(frozen=True, slots=True)
class Message(Command):
    """RETR n, DELE n; LIST n and UIDL n (LIST and UIDL without one are `MaybeMessage`)."""

    number: int


@dataclass(frozen=True, slots=True)
class MaybeMessage(Command):
    number: int | None


@dataclass(frozen=True, slots=True)
class Top(Command):
    number: int
    lines: int


@dataclass(frozen=True, slots=True)
class Lang(Command):
    """RFC 6856 §3: LANG alone lists the languages, LANG with a range picks one."""

    range: str | None


NO_ARGS = frozenset({"STAT", "NOOP", "RSET", "QUIT", "CAPA", "STLS", "UTF8"})
KNOWN = NO_ARGS | {"USER", "PASS", "AUTH", "RETR", "DELE", "LIST", "UIDL", "TOP", "APOP",
                   "LANG"}
_LANG_RANGE = re.compile(rb"\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*\Z")  # RFC 4647 §2.1


def _number(raw: bytes, what: str) -> int:
    if not _DIGITS.match(raw):
        raise ParseError(f"{what} must be a number")
    value = int(raw)
    if value > MAX_NUMBER:
        raise ParseError(f"{what} is too large")
    return value


def _message_number(raw: bytes) -> int:
    n = _number(raw, "message number")
    if n == 0:
        raise ParseError("message numbers start at 1")
    return n


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(f"{what} is not valid UTF-8") from None


def parse_command(line: bytes) -> Command:
    """Parse one command line (without CRLF). Keywords are case-insensitive (RFC 1939 §3)."""
    if len(line) + 2 > MAX_LINE:
        raise ParseError(f"command line longer than {MAX_LINE} octets")
    if b"\0" in line or b"\r" in line or b"\n" in line:
        raise ParseError("control characters in the command line")
    keyword, sep, rest = line.partition(b" ")
    if not _KEYWORD.match(keyword):
        raise ParseError("unknown command" if keyword else "empty command line")
    name = keyword.decode("ascii").upper()
    if name not in KNOWN:
        raise ParseError(f"unknown command {name}")
    if name == "PASS":  # the whole rest of the line, spaces included (RFC 1939 §7)
        if not sep or not rest:
            raise ParseError("PASS needs a password")
        return Pass(name, _text(rest, "the password"))
    args = rest.split(b" ") if sep else []
    if sep and (not rest or any(not a for a in args)):
        raise ParseError("arguments are separated by exactly one space")
    if name == "AUTH":
        return _auth(args)
    if any(len(a) > MAX_ARG for a in args):
        raise ParseError(f"an argument is longer than {MAX_ARG} octets")
    if name in NO_ARGS:
        if args:
            raise ParseError(f"{name} takes no arguments")
        return Command(name)
    if name == "USER":
        if len(args) != 1:
            raise ParseError("USER needs exactly one name")
        return User(name, _text(args[0], "the user name"))
    if name in ("RETR", "DELE"):
        if len(args) != 1:
            raise ParseError(f"{name} needs a message number")
        return Message(name, _message_number(args[0]))
    if name in ("LIST", "UIDL"):
        if len(args) > 1:
            raise ParseError(f"{name} takes at most one message number")
        return MaybeMessage(name, _message_number(args[0]) if args else None)
    if name == "LANG":
        if len(args) > 1:
            raise ParseError("LANG takes at most one language range")
        if args and not _LANG_RANGE.fullmatch(args[0]):
            raise ParseError("invalid language range")
        return Lang(name, args[0].decode("ascii") if args else None)
    if name == "TOP":
        if len(args) != 2:
            raise ParseError("TOP needs a message number and a line count")
        return Top(name, _message_number(args[0]), _number(args[1], "line count"))
    raise ParseError("APOP is not supported; use USER/PASS or AUTH over TLS")


def _auth(args: list[bytes]) -> Auth:
    if not args:
        return Auth("AUTH", None, None)
    if len(args) > 2:
        raise ParseError("AUTH takes a mechanism and an optional initial response")
    try:
        mechanism = args[0].decode("ascii").upper()
    except UnicodeDecodeError:
        raise ParseError("invalid SASL mechanism name") from None
    if not _MECHANISM.match(mechanism):
        raise ParseError("invalid SASL mechanism name")
    if len(args) == 1:
        return Auth("AUTH", mechanism, None)
    initial = args[1]
    return Auth("AUTH", mechanism, b"" if initial == b"=" else initial)  # RFC 5034 §4
