"""The connection loop: greeting, command framing (lines and literals, with limits), parsing,
the state gate of the command table, handler errors mapped to wire replies, untagged
updates, autologout.

Framing: a command is a line; a line ending in `{n}` (synchronising: we answer `+` first) or
`{n+}` (LITERAL+: no answer) is followed by n bytes and the rest of the command on the next
line. Before anything is read, a literal's size is checked against the limit for this command
and state: a synchronising literal that is too big is refused with `NO [TOOBIG]` (APPEND) or
`BAD` and never read; a non-synchronising one that is too big is already on its way, so we
refuse the command and close the connection (RFC 7888 §4).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from rmail import __version__
from rmail.imap import responses as r
from rmail.imap.commands import COMMANDS, notify
from rmail.imap.commands.base import Done, Updates
from rmail.imap.connection import Closed, Connection, LineTooLong
from rmail.imap.errors import ImapBad, ImapBye, ImapNo
from rmail.imap.parser import ParseError, parse_command, parse_tag
from rmail.imap.session import Session, State
from rmail.lineio import guard_session
from rmail.services import Services
from rmail.store.errors import (
    AlreadyExists,
    Conflict,
    CorruptStore,
    InvalidValue,
    NotFound,
    QuotaExceeded,
    StoreError,
)

log = logging.getLogger(__name__)

_LITERAL_END = re.compile(rb"~?\{(\d{1,20})(\+?)\}\Z")
MAX_BAD_IN_A_ROW = 20


@dataclass(frozen=True)
class Limits:
    """Sizes and times that bound what one connection may cost."""

    appendlimit: int = 50 * 1024 * 1024  # APPEND literal (RFC 7889 APPENDLIMIT)
    max_line: int = 64 * 1024  # one line of a command, literals excluded
    max_literal: int = 1024 * 1024  # a literal in any other command, once authenticated
    max_literal_unauth: int = 8 * 1024  # a literal before login
    max_command: int = 2 * 1024 * 1024  # a whole non-APPEND command
    autologout: float = 30 * 60  # RFC 3501 §5.4: at least 30 minutes
    unauth_timeout: float = 60.0  # before login, a client must get on with it
    max_connections_per_ip: int = 50  # untrusted addresses only


class _Refused(Exception):
    """A command refused while it was being framed; `fatal` closes the connection."""

    def __init__(self, line: bytes, fatal: bool = False) -> None:
        super().__init__(line.decode("utf-8", "replace"))
        self.line = line
        self.fatal = fatal


async def read_command(s: Session) -> bytes:
    """Read one complete command (with its literals) as on the wire, minus the last CRLF."""
    conn, limits = s.conn, s.limits
    line = await conn.read_line(limits.max_line)
    head = parse_tag(line)
    parts = [line]
    total = len(line)
    while (m := _LITERAL_END.search(line)) is not None:
        size, sync = int(m.group(1)), not m.group(2)
        tag = head[0] if head else "*"
        append = head is not None and head[1] == "APPEND" and s.state is not State.NOT_AUTHENTICATED
        if append:
            limit, budget = limits.appendlimit, limits.appendlimit + limits.max_command
        elif s.state is State.NOT_AUTHENTICATED:
            limit, budget = limits.max_literal_unauth, limits.max_literal_unauth * 4
        else:
            limit, budget = limits.max_literal, limits.max_command
        if size > limit or total + size > budget:
            if append:
                reply = f"{tag} NO [TOOBIG] message is larger than APPENDLIMIT {limit}"
            else:
                reply = f"{tag} BAD literal of {size} bytes is larger than the limit of {limit}"
            raise _Refused(reply.encode() + b"\r\n", fatal=not sync)
        if sync:
            conn.write(b"+ Ready for literal data\r\n")
            await conn.flush()
        parts += [b"\r\n", await conn.read_exact(size)]
        line = await conn.read_line(limits.max_line)
        parts.append(line)
        total += size + len(line)
    return b"".join(parts)


def _store_error(exc: StoreError) -> ImapNo:
    """The one mapping of storage-core failures to IMAP replies (RFC 5530 codes)."""
    if isinstance(exc, NotFound):
        return ImapNo(str(exc), "NONEXISTENT")
    if isinstance(exc, AlreadyExists):
        return ImapNo(str(exc), "ALREADYEXISTS")
    if isinstance(exc, QuotaExceeded):
        return ImapNo(str(exc), "OVERQUOTA")
    if isinstance(exc, InvalidValue | Conflict):
        return ImapNo(str(exc), "CANNOT")
    if isinstance(exc, CorruptStore):
        return ImapNo("the mailbox index is damaged; please tell the administrator", "SERVERBUG")
    return ImapNo(str(exc))


def _tagged(tag: str, status: str, code: str | None, text: str) -> bytes:
    return tag.encode() + b" " + status.encode() + b" " + r.code_text(code, text) + b"\r\n"


async def execute(s: Session, data: bytes) -> bool:
    """Run one command; returns False when it was malformed (BAD)."""
    try:
        req = parse_command(data, utf8=s.utf8)
    except ParseError as exc:
        s.conn.write(_tagged(exc.tag or "*", "NO" if exc.no else "BAD", exc.code, exc.text))
        return exc.no
    cmd = COMMANDS[req.name]
    if s.state not in cmd.states:
        s.conn.write(_tagged(req.tag, "BAD", None,
                             f"{req.name} is not allowed in the {s.state.value} state"))
        return False
    status, code, text, done = "OK", None, f"{req.name} completed", None
    s.tag = req.tag
    try:
        try:
            done = await cmd.handler(s, req.args) or Done()
            code, text = done.code, (done.text if done.text != "completed"
                                     else f"{req.name} completed")
        except StoreError as exc:
            raise _store_error(exc) from exc
    except ImapNo as exc:
        status, code, text = "NO", exc.code, exc.text
    except ImapBad as exc:
        status, code, text = "BAD", exc.code, exc.text
    except (Closed, ImapBye, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("IMAP %s failed", req.name)
        status, code, text = "NO", "SERVERBUG", f"{req.name} failed; see the server log"
    if cmd.updates is not Updates.NONE and s.state is State.SELECTED:
        await s.catch_up(expunge=cmd.updates is Updates.ALL)
    if cmd.updates is not Updates.NONE and s.notify is not None:
        await notify.push(s, between_commands=False)
    s.conn.write(_tagged(req.tag, status, code, text))
    if done is not None and done.after is not None:
        await s.conn.flush()
        await done.after()
    return status != "BAD"


def greeting(s: Session) -> bytes:
    caps = " ".join(s.capabilities())
    return f"* OK [CAPABILITY {caps}] rmail {__version__} ready\r\n".encode()


async def serve(s: Session) -> None:
    """The life of one connection after it was accepted (and, for imaps, TLS-wrapped)."""
    try:
        await guard_session(s.conn, _command_loop(s), protocol="IMAP", peer=s.peer_ip,
                            shutdown=b"* BYE server shutting down\r\n",
                            failure=b"* BYE internal server error\r\n")
    finally:
        s.state = State.LOGOUT
        if s.sub is not None:
            s.sub.close()
        await s.conn.close()


async def _command_loop(s: Session) -> None:
    conn = s.conn
    conn.write(greeting(s))
    bad = 0
    while s.state is not State.LOGOUT:
        await conn.flush()
        timeout = (s.limits.autologout if s.state is not State.NOT_AUTHENTICATED
                   else s.limits.unauth_timeout)
        try:
            data = await asyncio.wait_for(notify.read_between(s, read_command), timeout)
        except TimeoutError:
            conn.write(b"* BYE Autologout; idle for too long\r\n")
            return
        except _Refused as exc:
            conn.write(exc.line)
            if exc.fatal:
                conn.write(b"* BYE the literal was too big to read\r\n")
                return
            continue
        except LineTooLong as exc:
            head = parse_tag(exc.head)
            tag = head[0] if head else "*"
            conn.write(f"{tag} BAD line is longer than {s.limits.max_line} bytes\r\n"
                       .encode())
            if s.state is State.NOT_AUTHENTICATED or not await conn.discard_line(
                    s.limits.max_command):
                conn.write(b"* BYE too much garbage\r\n")
                return
            continue
        try:
            ok = await execute(s, data)
        except ImapBye as exc:
            conn.write(b"* BYE " + r.code_text(exc.code, exc.text) + b"\r\n")
            return
        bad = 0 if ok else bad + 1
        if bad >= MAX_BAD_IN_A_ROW:
            conn.write(b"* BYE too many invalid commands\r\n")
            return


def new_session(core: Services, conn: Connection, limits: Limits, *, starttls: bool,
                ssl_context: object) -> Session:
    return Session(core, conn, limits, starttls=starttls, ssl_context=ssl_context)
