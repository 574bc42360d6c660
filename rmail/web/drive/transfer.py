"""Bodies in and out without holding a file in memory.

`receive` copies `request.content` (or a multipart part) into a staged `Upload` in batches of
about 4 MiB, each written and hashed from worker threads, so memory stays flat for any size and
the event loop never blocks on the disk. `FileSender` streams an open file, with `sendfile(2)`
where the transport allows and chunked reads otherwise, for a whole file or one byte range.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import IO

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from rmail.store.drive import Upload

__all__ = ["BATCH", "FileSender", "receive"]

BATCH = 4 * 1024 * 1024        # bytes handed to the writer and hasher threads at once
WRITEBACK = 64 * 1024 * 1024   # bytes between two early flushes of a large upload
CHUNK = 1024 * 1024


async def receive(upload: Upload, read: Callable[[], Awaitable[bytes]]) -> None:
    """Feed `upload` from `read()` until it returns b"" (aiohttp's `readany` or a multipart
    part's `read_chunk`); QuotaExceeded as soon as the limit is passed.

    Three things overlap: the event loop receives the next batch while one worker thread
    writes the previous batch and another hashes it, and every `WRITEBACK` bytes the disk is
    asked to start flushing (so the fdatasync before the commit finds little left to do). At
    most two batches are ever in memory."""
    batch: list[bytes] = []
    batched = 0
    pending: asyncio.Future[tuple[None, None]] | None = None
    flushing: asyncio.Future[None] | None = None
    unflushed = 0
    try:
        while True:
            chunk = await read()
            if chunk:
                batch.append(chunk)
                batched += len(chunk)
                if batched < BATCH:
                    continue
            if pending is not None:
                await pending
                pending = None
            if batch:
                pending = asyncio.gather(asyncio.to_thread(upload.store_chunks, batch),
                                         asyncio.to_thread(upload.hash_chunks, batch))
                unflushed += batched
                batch, batched = [], 0
            if unflushed >= WRITEBACK and (flushing is None or flushing.done()):
                if flushing is not None:
                    await flushing  # re-raise its error, if any
                flushing = asyncio.ensure_future(asyncio.to_thread(upload.start_writeback))
                unflushed = 0
            if not chunk:
                break
        if pending is not None:
            await pending
            pending = None
    finally:
        # never let abort() close the file under a write or flush still running
        running = [f for f in (pending, flushing) if f is not None and not f.done()]
        if running:
            await asyncio.wait(running)
        if pending is not None and pending.done() and not pending.cancelled():
            pending.exception()  # retrieved: the first error is the one that propagates
    if flushing is not None:
        await flushing


class FileSender(web.StreamResponse):
    """A response body read from an already opened (and checked) file object."""

    def __init__(self, fobj: IO[bytes], offset: int, count: int, *, status: int = 200,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status=status, headers=headers)
        self._fobj = fobj
        self._offset = offset
        self._count = count
        self.content_length = count

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        try:
            writer = await super().prepare(request)
            if request.method == "HEAD" or self._count == 0 or writer is None:
                return writer
            transport = request.transport
            loop = asyncio.get_running_loop()
            sent = False
            if transport is not None and not self.compression and \
                    transport.get_extra_info("sslcontext") is None:
                try:
                    await loop.sendfile(transport, self._fobj, self._offset, self._count,
                                        fallback=False)
                    sent = True
                except NotImplementedError:
                    sent = False
            if not sent:
                await self._copy(writer)
            await super().write_eof()
            return writer
        finally:
            self._fobj.close()

    async def _copy(self, writer: AbstractStreamWriter) -> None:
        """Without sendfile (TLS, compression): read the next chunk in a worker thread while
        the current one is being sent, 1 MiB at a time (asyncio's own fallback reads 256 KiB
        and waits for each read before sending)."""
        fd = self._fobj.fileno()
        offset, left = self._offset, self._count

        def read(at: int, n: int) -> bytes:
            return os.pread(fd, n, at)

        pending = asyncio.ensure_future(asyncio.to_thread(read, offset, min(CHUNK, left)))
        try:
            while left > 0:
                chunk = await pending
                if not chunk:
                    raise ConnectionResetError("the file shrank while it was being sent")
                offset += len(chunk)
                left -= len(chunk)
                if left > 0:
                    pending = asyncio.ensure_future(
                        asyncio.to_thread(read, offset, min(CHUNK, left)))
                await writer.write(chunk)
        finally:
            if not pending.done():
                await asyncio.wait([pending])  # the file is closed after this returns
        await writer.drain()
