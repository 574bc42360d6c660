"""The connection loop: greeting, bounded command lines, the state gate of the command table,
`Pop3Error` and store failures mapped to `-ERR` replies in one place, the idle timeout.

Pipelining (RFC 2449 §6.6): commands are read and answered in order; replies are sent when
no further complete command is waiting, so a pipelining client gets them in batches.
Over-long lines (more than 255 octets with the CRLF, RFC 2449 §4) are skipped with `-ERR` and
the session goes on; the `max_long_lines`-th one, or one that does not end within 64 KiB,
ends the session, as do `max_bad_commands` malformed or misplaced commands in a row.
"""

from __future__ import annotations

import asyncio
import logging

from rmail.lineio import Closed, LineTooLong, guard_session
from rmail.pop3.commands import COMMANDS
from rmail.pop3.errors import Pop3Error
from rmail.pop3.parser import MAX_LINE, ParseError, parse_command
from rmail.pop3.session import Session, State
from rmail.store.errors import CorruptStore, NotFound, StoreError

log = logging.getLogger(__name__)

GREETING = b"+OK rmail POP3 server ready\r\n"
DISCARD_BUDGET = 64 * 1024


def _store_error(exc: StoreError) -> Pop3Error:
    """The one mapping of storage-core failures to POP3 replies (RFC 3206 codes)."""
    if isinstance(exc, NotFound):
        return Pop3Error(str(exc), "SYS/PERM")
    if isinstance(exc, CorruptStore):
        return Pop3Error("the mailbox index is damaged; please tell the administrator",
                         "SYS/PERM")
    return Pop3Error(str(exc), "SYS/TEMP")


async def execute(s: Session, line: bytes) -> bool:
    """Run one command line; False when it was malformed or not allowed in this state."""
    try:
        cmd = parse_command(line)
    except ParseError as exc:
        s.conn.write(b"-ERR " + str(exc).encode() + b"\r\n")
        return False
    spec = COMMANDS.get(cmd.name)
    if spec is None or s.state not in spec.states:
        s.conn.write(f"-ERR {cmd.name} is not allowed in the {s.state.value} state\r\n"
                     .encode())
        return False
    try:
        try:
            await spec.handler(s, cmd)
        except StoreError as exc:
            raise _store_error(exc) from exc
    except Pop3Error as exc:
        s.conn.write(exc.line())
        if exc.fatal:
            s.state = State.CLOSED
    except (Closed, asyncio.CancelledError):
        raise
    except Exception:  # part of a reply may be out already: the stream cannot be trusted
        log.exception("POP3 %s failed", cmd.name)
        s.conn.write(b"-ERR [SYS/TEMP] internal error; see the server log\r\n")
        s.state = State.CLOSED
    return True


async def serve(s: Session) -> None:
    """The life of one connection after it was accepted (and, for pop3s, TLS-wrapped)."""
    try:
        await guard_session(s.conn, _command_loop(s), protocol="POP3", peer=s.peer_ip,
                            shutdown=b"-ERR [SYS/TEMP] server shutting down\r\n",
                            failure=b"-ERR [SYS/TEMP] internal server error\r\n")
    finally:
        s.release()  # without QUIT nothing is applied (RFC 1939 §6)
        s.state = State.CLOSED
        await s.conn.close()


async def _command_loop(s: Session) -> None:
    conn, limits = s.conn, s.limits
    conn.write(GREETING)
    bad = long_lines = 0
    while s.state is not State.CLOSED:
        if not conn.has_buffered_input():
            await conn.flush()
        try:
            async with asyncio.timeout(limits.timeout):  # a timer, not a task per command
                line = await conn.read_line(MAX_LINE - 1)
        except TimeoutError:
            conn.write(b"-ERR autologout: idle for too long\r\n")
            return
        except LineTooLong:
            long_lines += 1
            conn.write(f"-ERR command line longer than {MAX_LINE} octets\r\n".encode())
            if long_lines >= limits.max_long_lines or not await conn.discard_line(
                    DISCARD_BUDGET):
                conn.write(b"-ERR too many over-long lines; closing\r\n")
                return
            continue
        bad = 0 if await execute(s, line) else bad + 1
        if bad >= limits.max_bad_commands:
            conn.write(b"-ERR too many invalid commands; closing\r\n")
            return
