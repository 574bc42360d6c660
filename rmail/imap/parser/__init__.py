"""IMAP command grammar: the bytes of one complete command in, a typed `Request` out.

No I/O and no session state beyond two switches (`utf8` for mailbox names after ENABLE
UTF8=ACCEPT / IMAP4rev2). The connection loop (`server.py`) has already read the command's
literals; they are still in the bytes exactly as on the wire (`{5}\\r\\nhello`), so the grammar
here is the one of RFC 3501 §9 / RFC 9051 §9 plus the extensions rmail implements.

Every malformed input raises `ParseError` (answered with BAD, or NO where `no` is set); any
other exception escaping from here is a bug, and the fuzz tests look for one.

The package, one module per family of commands, each with its table of parsers:
- `reader`     `Reader` (one method per grammar rule) and `ParseError`
- `general`    the connection and the session: LOGIN, AUTHENTICATE, ENABLE, ID, NOTIFY ...
- `mailboxes`  SELECT, CREATE, RENAME, LIST, STATUS, APPEND, quota, metadata
- `search`     SEARCH, SORT, THREAD
- `messages`   FETCH, STORE, COPY, MOVE, UID EXPUNGE, and `parse_section`
This module joins the tables and reads the tag and the command name (`parse_command`).
"""

from __future__ import annotations

import re

from rmail.imap.parser import general, mailboxes, messages, search
from rmail.imap.parser.messages import parse_section
from rmail.imap.parser.reader import ParseError, Parser, Reader
from rmail.imap.syntax import Request

__all__ = ["PARSERS", "ParseError", "Reader", "parse_command", "parse_section", "parse_tag"]

_TAG = re.compile(rb"[^(){ %*\"\\+\x00-\x20\x7f-\xff]+")

PARSERS: dict[str, Parser] = {**general.PARSERS, **mailboxes.PARSERS, **search.PARSERS,
                               **messages.PARSERS}

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
    r = Reader(data, utf8)
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
