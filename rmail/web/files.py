"""Files out without holding them in memory, for every front end that serves drive files (the
JSON/WebDAV drive and the webmail's file manager; bodies in: `rmail.web.uploads`).

`FileSender` streams an open, already checked file, with `sendfile(2)` where the transport
allows and chunked reads otherwise, for a whole file or one byte range (`parse_range`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import IO, Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

__all__ = ["FileSender", "RangeNotSatisfiable", "content_disposition", "parse_range"]

CHUNK = 1024 * 1024



class RangeNotSatisfiable(Exception):
    """A `Range` that starts past the end of the file (HTTP 416)."""

    def __init__(self, size: int) -> None:
        super().__init__("unsatisfiable range")
        self.size = size

    @property
    def content_range(self) -> str:
        return f"bytes */{self.size}"


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One `bytes=` range as (offset, count); None to send the whole file (absent, several
    ranges or unparsable: RFC 9110 §14.2 lets a server ignore Range). Raises
    `RangeNotSatisfiable` (416) when the range starts past the end."""
    if not header.startswith("bytes=") or "," in header:
        return None
    first, sep, last = header[6:].strip().partition("-")
    if not sep:
        return None
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                raise RangeNotSatisfiable(size)
            start = max(0, size - n)
            end = size - 1
        else:
            start = int(first)
            end = int(last) if last else size - 1
    except ValueError:
        return None
    if start < 0 or end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    end = min(end, size - 1)
    return start, end - start + 1


class FileSender(web.StreamResponse):
    """A response body read from an already opened (and checked) file object."""

    def __init__(self, fobj: IO[bytes], offset: int, count: int, *,
                 run: Callable[..., Awaitable[Any]], status: int = 200,
                 headers: dict[str, str] | None = None) -> None:
        """``run``: the services' store pool (`Services.run`), for the reads TLS needs."""
        super().__init__(status=status, headers=headers)
        self._run = run
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
        """Without sendfile (TLS, compression): read the next chunk on the store pool while
        the current one is being sent, 1 MiB at a time (asyncio's own fallback reads 256 KiB
        and waits for each read before sending)."""
        fd = self._fobj.fileno()
        offset, left = self._offset, self._count

        def read(at: int, n: int) -> bytes:
            return os.pread(fd, n, at)

        pending = asyncio.ensure_future(self._run(read, offset, min(CHUNK, left)))
        try:
            while left > 0:
                chunk = await pending
                if not chunk:
                    raise ConnectionResetError("the file shrank while it was being sent")
                offset += len(chunk)
                left -= len(chunk)
                if left > 0:
                    pending = asyncio.ensure_future(self._run(read, offset, min(CHUNK, left)))
                await writer.write(chunk)
        finally:
            if not pending.done():
                await asyncio.wait([pending])  # the file is closed after this returns
        await writer.drain()


def content_disposition(kind: str, filename: str) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name (RFC 8187); no quotes, slashes or
    control characters can break out of it."""
    cleaned = "".join(c for c in filename if c.isprintable() and c not in '"\\/\r\n;')
    cleaned = cleaned.strip(". ") or "attachment"
    ascii_name = cleaned.encode("ascii", "replace").decode().replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(cleaned, safe='')}"
