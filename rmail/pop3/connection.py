"""Byte-level I/O of one POP3 connection: bounded lines, buffered writes with backpressure,
STLS.

Every wait for the client to take our output is bounded by `send_timeout`, and each chunk
it takes starts the wait again, so a long RETR to a slow but live client never times out
mid-transfer while a client that stops reading is dropped (RFC 1939 §3's autologout timer
applies to a client doing nothing, not to one being sent a large message).
"""

from __future__ import annotations

import asyncio
import ssl

READ_CHUNK = 64 * 1024
DRAIN_AT = 256 * 1024  # bytes written before we wait for the client to take them
WAIT_ABOVE = 64 * 1024  # bytes left in the transport's buffer that are worth waiting for


class Closed(Exception):
    """The client went away (EOF, reset, a failed handshake, or it stopped reading)."""


class LineTooLong(Exception):
    """A line exceeded the limit; the rest of it is still unread."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 send_timeout: float) -> None:
        self.reader = reader
        self.writer = writer
        self.send_timeout = send_timeout
        self.buf = bytearray()
        self._out: list[bytes] = []
        self._pending_out = 0

    @property
    def tls(self) -> bool:
        return self.writer.get_extra_info("ssl_object") is not None

    def peer_ip(self) -> str | None:
        peer = self.writer.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            return str(peer[0])
        return None

    # -- reading ------------------------------------------------------------------------------
    async def _fill(self) -> None:
        try:
            data = await self.reader.read(READ_CHUNK)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            raise Closed(str(exc)) from exc
        if not data:
            raise Closed("end of input")
        self.buf += data

    async def read_line(self, limit: int) -> bytes:
        """One line without its CRLF (a bare LF ends a line too); LineTooLong when its LF is
        not within the first `limit` + 1 octets."""
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                if i > limit:
                    raise LineTooLong()
                end = i - 1 if i > 0 and self.buf[i - 1] == 13 else i
                line = bytes(self.buf[:end])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise LineTooLong()
            start = len(self.buf)
            await self._fill()

    async def discard_line(self, budget: int) -> bool:
        """Skip to the end of the current line; False when it is longer than `budget`."""
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

    def has_buffered_input(self) -> bool:
        """Whether the client pipelined another command (RFC 2449 PIPELINING): answers are then
        sent together, once we have to wait for input."""
        return b"\n" in self.buf

    # -- writing ------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Queue output; it goes out at the next `flush` or `maybe_drain` in one transport
        write (under TLS one write is one set of records, not one per reply line)."""
        if data:
            self._out.append(data)
            self._pending_out += len(data)

    def _hand_over(self) -> None:
        if self._out:
            data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
            self._out.clear()
            if not self.writer.is_closing():
                self.writer.write(data)

    async def _drain(self) -> None:
        self._hand_over()
        self._pending_out = 0
        transport = self.writer.transport
        if transport.get_write_buffer_size() < WAIT_ABOVE and not transport.is_closing():
            return  # the kernel takes it: no need to wait (nor to yield to the loop)
        while True:
            before = transport.get_write_buffer_size()
            try:
                await asyncio.wait_for(self.writer.drain(), self.send_timeout)
                return
            except TimeoutError:
                if transport.get_write_buffer_size() >= before:  # nothing taken meanwhile
                    raise Closed("the client stopped reading") from None
            except (ConnectionError, ssl.SSLError, OSError) as exc:
                raise Closed(str(exc)) from exc

    async def flush(self) -> None:
        """Hand everything written so far to the client."""
        if not self.writer.is_closing():
            await self._drain()

    async def maybe_drain(self) -> None:
        """Backpressure during a long response: wait only once enough is queued."""
        if self._pending_out >= DRAIN_AT:
            await self._drain()

    async def start_tls(self, context: ssl.SSLContext) -> None:
        """Upgrade to TLS. Input the client pipelined before the handshake is dropped: it would
        otherwise be read as if it had been protected (RFC 2595 §4, RFC 2449 §6.6).

        Nothing may yield to the loop between our `+OK` and the switch: the client's
        ClientHello, read meanwhile, would land in the plaintext buffer and be lost."""
        self._hand_over()
        self.buf.clear()
        try:
            await self.writer.start_tls(context, ssl_handshake_timeout=self.send_timeout)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
            raise Closed(f"TLS handshake failed: {exc}") from exc

    async def close(self) -> None:
        try:
            if not self.writer.is_closing():
                await asyncio.wait_for(self.flush(), 5)
        except (Closed, TimeoutError):
            pass
        self.writer.close()
