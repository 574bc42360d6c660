"""What the line protocols (IMAP, POP3) share below their grammar: bounded line reading over
asyncio streams (`LineConnection`), the two ways a connection ends (`Closed`, `LineTooLong`),
and the error boundary around a session's command loop (`guard_session`).

A protocol subclasses `LineConnection` for its output side (POP3 batches replies with a send
timeout; IMAP may compress) and, if it transforms input (IMAP's COMPRESS=DEFLATE), overrides
`_fill`; line framing and limits stay here, written once.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from abc import ABC, abstractmethod
from collections.abc import Awaitable

__all__ = ["READ_CHUNK", "Closed", "LineConnection", "LineTooLong", "guard_session"]

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
SHUTDOWN_FLUSH = 1.0  # seconds a goodbye gets to reach a client while the listener stops


class Closed(Exception):
    """The client went away (EOF, reset, a failed handshake, or it stopped reading)."""


class LineTooLong(Exception):
    """A line exceeded the limit; `head` holds its first bytes (to find an IMAP tag) and the
    rest of the line is still unread."""

    def __init__(self, head: bytes = b"") -> None:
        super().__init__("line too long")
        self.head = head


class LineConnection(ABC):
    """The input side of a line protocol: a buffer of received bytes cut into lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()

    @property
    def tls(self) -> bool:
        return self.writer.get_extra_info("ssl_object") is not None

    def peer_ip(self) -> str | None:
        peer = self.writer.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            return str(peer[0])
        return None

    async def _receive(self) -> bytes:
        """The next bytes from the socket; `Closed` at the end of input or on an error."""
        try:
            data = await self.reader.read(READ_CHUNK)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            raise Closed(str(exc)) from exc
        if not data:
            raise Closed("end of input")
        return data

    async def _fill(self) -> None:
        """Add at least one byte to `buf` (a subclass may decode what it receives)."""
        self.buf += await self._receive()

    async def read_line(self, limit: int) -> bytes:
        """One line without its CRLF (a bare LF ends a line too); `LineTooLong` when its LF is
        not within the first ``limit`` + 1 octets."""
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                if i > limit:
                    raise LineTooLong(bytes(self.buf[:200]))
                end = i - 1 if i > 0 and self.buf[i - 1] == 13 else i
                line = bytes(self.buf[:end])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise LineTooLong(bytes(self.buf[:200]))
            start = len(self.buf)
            await self._fill()

    async def discard_line(self, budget: int) -> bool:
        """Skip to the end of the current line; False when it is longer than ``budget``."""
        skipped = 0
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                del self.buf[:i + 1]
                return True
            skipped += len(self.buf)
            self.buf.clear()
            if skipped > budget:
                return False
            await self._fill()

    # The output side is the protocol's; `guard_session` needs these two.
    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    async def flush(self) -> None: ...


async def guard_session(conn: LineConnection, loop: Awaitable[None], *, protocol: str,
                        peer: str | None, shutdown: bytes, failure: bytes) -> None:
    """Run a session's command loop and end it the same way for every protocol: a client that
    went away ends quietly; a stopping listener (cancellation) gets ``shutdown`` sent with a
    short deadline and the session ends without error; any other failure is logged and the
    client told ``failure``. The caller's ``finally`` releases the session and closes."""
    try:
        await loop
    except Closed as exc:
        log.debug("%s session from %s closed: %s", protocol, peer, exc)
    except asyncio.CancelledError:
        conn.write(shutdown)
        try:
            await asyncio.wait_for(conn.flush(), SHUTDOWN_FLUSH)
        except (Closed, TimeoutError, asyncio.CancelledError):
            pass
    except Exception:
        log.exception("%s session from %s failed", protocol, peer)
        conn.write(failure)
