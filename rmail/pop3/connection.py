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

from rmail.lineio import Closed, LineConnection, LineTooLong

__all__ = ["Closed", "Connection", "LineTooLong"]

DRAIN_AT = 256 * 1024  # bytes written before we wait for the client to take them
WAIT_ABOVE = 64 * 1024  # bytes left in the transport's buffer that are worth waiting for


class Connection(LineConnection):
    """A POP3 connection: lines in (`rmail.lineio`), batched replies out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 send_timeout: float) -> None:
        super().__init__(reader, writer)
        self.send_timeout = send_timeout
        self._out: list[bytes] = []
        self._pending_out = 0

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
