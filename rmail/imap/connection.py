"""Byte-level I/O of one IMAP connection: lines and literals with limits, STARTTLS, and
COMPRESS=DEFLATE (RFC 4978) in both directions.

Compression: input goes through one raw-deflate decompressor fed in bounded steps (so a small
compressed burst cannot inflate into unbounded memory); output goes through one compressor
that is sync-flushed (Z_SYNC_FLUSH) whenever we wait for the client, so every response the
client waits for is complete on the wire. A client may flush partially anywhere, even inside
a line or a literal: the decompressor keeps its state and we keep ours.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib

from rmail.lineio import Closed, LineConnection, LineTooLong

__all__ = ["Closed", "Connection", "LineTooLong"]

INFLATE_STEP = 256 * 1024  # bytes of decompressed output produced per step


class Connection(LineConnection):
    """An IMAP connection: lines in (`rmail.lineio`) and literals, optionally compressed."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self._inflate: zlib._Decompress | None = None
        self._deflate: zlib._Compress | None = None
        self._pending_out = 0
        self._dirty = False  # compressed output not yet sync-flushed

    @property
    def compressed(self) -> bool:
        return self._deflate is not None

    # -- reading ------------------------------------------------------------------------------
    async def _fill(self) -> None:
        if self._inflate is None:
            self.buf += await self._receive()
            return
        tail = self._inflate.unconsumed_tail
        if tail:
            self.buf += self._inflate.decompress(tail, INFLATE_STEP)
            return
        data = await self._receive()
        try:
            self.buf += self._inflate.decompress(data, INFLATE_STEP)
        except zlib.error as exc:
            raise Closed(f"broken compressed stream: {exc}") from exc
        if self._inflate.eof:
            raise Closed("end of compressed stream")

    async def read_exact(self, n: int) -> bytes:
        if self._inflate is None and len(self.buf) < n:
            head = bytes(self.buf)
            self.buf.clear()
            try:
                return head + await self.reader.readexactly(n - len(head))
            except asyncio.IncompleteReadError as exc:
                raise Closed("end of input inside a literal") from exc
            except (ConnectionError, ssl.SSLError, OSError) as exc:
                raise Closed(str(exc)) from exc
        while len(self.buf) < n:
            await self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def has_buffered_input(self) -> bool:
        return bool(self.buf) or (self._inflate is not None and
                                  bool(self._inflate.unconsumed_tail))

    # -- writing ------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.writer.is_closing():
            return
        if self._deflate is not None:
            self._dirty = True
            data = self._deflate.compress(data)
        if data:
            self.writer.write(data)
            self._pending_out += len(data)

    async def flush(self) -> None:
        """Send everything written so far (sync-flushing the compressor)."""
        if self.writer.is_closing():
            return
        if self._deflate is not None and self._dirty:
            # only after output: an empty sync-flush block upsets some clients (mbsync 1.4)
            self.writer.write(self._deflate.flush(zlib.Z_SYNC_FLUSH))
            self._dirty = False
        self._pending_out = 0
        try:
            await self.writer.drain()
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            raise Closed(str(exc)) from exc

    async def maybe_drain(self, threshold: int = 256 * 1024) -> None:
        """Apply backpressure during a long response without flushing the compressor."""
        if self._pending_out >= threshold:
            self._pending_out = 0
            try:
                await self.writer.drain()
            except (ConnectionError, ssl.SSLError, OSError) as exc:
                raise Closed(str(exc)) from exc

    # -- upgrades -----------------------------------------------------------------------------
    async def start_tls(self, context: ssl.SSLContext) -> None:
        """Upgrade to TLS; input the client pipelined before the handshake is dropped (it
        would otherwise be read as if it had been protected: RFC 3501 §6.2.1)."""
        await self.flush()
        self.buf.clear()
        try:
            await self.writer.start_tls(context)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
            raise Closed(f"TLS handshake failed: {exc}") from exc

    def start_compression(self) -> None:
        self._inflate = zlib.decompressobj(-15)
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        if self.buf:  # anything already received after the command is compressed data
            raw = bytes(self.buf)
            self.buf.clear()
            self.buf += self._inflate.decompress(raw, INFLATE_STEP)

    async def close(self) -> None:
        try:
            if not self.writer.is_closing():
                await self.flush()
        except Closed:
            pass
        self.writer.close()
