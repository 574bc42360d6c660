"""Staged uploads: bytes arrive into `tmp/` with no lock held, hashed as they come.

The drive's commit (`UserDrive.write`) renames a finished `Upload` into the tree under the drive
lock; until then the bytes live only in `tmp/`, which is swept of dead processes' files, so a
crash never leaves a partial file in the tree.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from rmail.store.drive.entries import etag_of_digest
from rmail.store.errors import QuotaExceeded
from rmail.store.fsutil import start_writeback

__all__ = ["CHUNK", "Upload"]

CHUNK = 1024 * 1024
# Bytes per write(2) call. Why not one writev(2) per 4 MiB batch: on this machine
# (Linux 6.18, ext4, a Firecracker VM) the kernel's copy into new page cache cost 4-9 ms of
# system time per MB with 4 MiB writes and 0.3 ms with 256 KiB writes, ten 50 MB files
# each, alternating, reproducibly (`copy_folio_from_iter_atomic` in perf); with the files
# deleted in between (page cache reused) both cost 0.3. Likely why: a large write gets large
# page-cache folios, taken from high-order free memory, which on this VM is memory the host
# has taken back (its balloon reports free pages) and faults in again page by page. Apache's
# 8 KiB writes never paid it; rmail's uploads did, when the page cache had to grow.
WRITE_SIZE = 256 * 1024


class Upload:
    """A file being received into `tmp/`, hashed and counted as it arrives.

    `write()` never holds more than the chunk it is given; `limit` (bytes) turns an oversized
    body into `QuotaExceeded` while it is still arriving. Call `abort()` on any failure (it is
    idempotent, and a successful commit makes it a no-op)."""

    def __init__(self, path: Path, limit: int | None) -> None:
        self.path = path
        self.limit = limit
        self.size = 0
        self._sha = hashlib.sha256()
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                                       0o644)
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.store_chunks([data])
        self.hash_chunks([data])

    def store_chunks(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        """Append `chunks` to the file in writes of at most `WRITE_SIZE` bytes, without
        hashing them: `hash_chunks` does that, possibly in another thread at the same time
        (both release the GIL), because SHA-256 and the copy into the page cache cost about
        the same."""
        if self._fd is None:
            raise ValueError("upload is closed")
        total = sum(len(c) for c in chunks)
        if self.limit is not None and self.size + total > self.limit:
            raise QuotaExceeded("quota exceeded")
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(self._fd, view[:WRITE_SIZE]):]
        self.size += total

    def hash_chunks(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        """The hashing half of `store_chunks` (call both, in the same order of batches)."""
        for chunk in chunks:
            self._sha.update(chunk)

    def start_writeback(self) -> None:
        """Have the disk start writing what was written so far while more is still arriving
        (`fsutil.start_writeback`: no wait, no journal commit), so the fdatasync before the
        commit has little left to wait for. Safe next to `store_chunks`; the caller must not
        `abort()` while it runs."""
        if self._fd is not None:
            start_writeback(self._fd)

    def write_from(self, source: Iterable[bytes] | IO[bytes]) -> None:
        """Copy an iterator of chunks or a binary file-like object, one chunk at a time."""
        read = getattr(source, "read", None)
        if read is not None:
            while chunk := read(CHUNK):
                self.write(chunk)
        else:
            for chunk in source:  # type: ignore[union-attr]
                self.write(chunk)

    @property
    def etag(self) -> str:
        return etag_of_digest(self._sha.hexdigest())

    def finish(self, *, durable: bool = True) -> None:
        """Make the staged bytes durable (before they are renamed into the tree); a batch
        passes `durable=False` and makes all its files durable at once (`fsutil.syncfs`)."""
        if self._fd is not None:
            try:
                if durable:
                    os.fdatasync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None

    def mark_committed(self) -> None:
        self._done = True

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if not self._done:
            self._done = True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
