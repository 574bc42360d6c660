"""Bodies in and out without holding a file in memory.

`receive` copies `request.content` (or a multipart part) into a staged `Upload` in batches of
about 1 MiB, each written from a worker thread, so memory stays flat for any size and the event
loop never blocks on the disk. `FileSender` streams an open file, with `sendfile(2)` where the
transport allows and chunked reads otherwise, for a whole file or one byte range.
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

BATCH = 1024 * 1024
CHUNK = 256 * 1024


async def receive(upload: Upload, read: Callable[[], Awaitable[bytes]]) -> None:
    """Feed `upload` from `read()` until it returns b"" (aiohttp's `readany` or a multipart
    part's `read_chunk`); `upload.write` raises QuotaExceeded as soon as the limit is passed.
    One batch is written (and hashed) in a worker thread while the next one arrives, so the
    network, the disk and the hash overlap; at most two batches are ever in memory."""
    buf = bytearray()
    pending: asyncio.Future[None] | None = None
    try:
        while True:
            chunk = await read()
            if not chunk:
                break
            buf += chunk
            if len(buf) >= BATCH:
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(asyncio.to_thread(upload.write, bytes(buf)))
                buf = bytearray()
        if pending is not None:
            await pending
            pending = None
        if buf:
            await asyncio.to_thread(upload.write, bytes(buf))
    finally:
        if pending is not None and not pending.done():
            await asyncio.wait([pending])  # never abort() under a write still running


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
            if transport is not None and not self.compression:
                try:
                    await loop.sendfile(transport, self._fobj, self._offset, self._count)
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
        fd = self._fobj.fileno()
        offset, left = self._offset, self._count
        while left > 0:
            chunk = await asyncio.to_thread(os.pread, fd, min(CHUNK, left), offset)
            if not chunk:
                break
            await writer.write(chunk)
            offset += len(chunk)
            left -= len(chunk)
        await writer.drain()
