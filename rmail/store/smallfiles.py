"""Small drive files kept in memory, for the GET of a hot file.

Each record holds a file's entry and bytes together with the identity (inode, mtime, size) of
the directory index they were read under. Every write to a drive replaces that index by
rename, so while one `stat` of it returns the same identity, the entry and bytes are exactly
what is on disk. A repeated GET of a small file then costs that `stat` and a dictionary
lookup instead of reading and parsing the index, an open, an fstat, a read and a close.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["MAX_BODY", "SmallFiles", "small_files"]

MAX_BODY = 64 * 1024          # larger files are streamed (sendfile) instead
MAX_TOTAL = 32 * 1024 * 1024  # per process


class SmallFiles:
    """A least-recently-used map of key -> (record, body), bounded by the bodies' bytes."""

    def __init__(self, max_total: int = MAX_TOTAL, max_body: int = MAX_BODY) -> None:
        self.max_total = max_total
        self.max_body = max_body
        self._records: OrderedDict[Hashable, tuple[object, bytes]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[object, bytes] | None:
        with self._lock:
            hit = self._records.get(key)
            if hit is not None:
                self._records.move_to_end(key)
            return hit

    def put(self, key: Hashable, record: object, body: bytes) -> None:
        if len(body) > self.max_body:
            return
        with self._lock:
            old = self._records.pop(key, None)
            if old is not None:
                self._total -= len(old[1])
            self._records[key] = (record, body)
            self._total += len(body)
            while self._total > self.max_total:
                _, (_, dropped) = self._records.popitem(last=False)
                self._total -= len(dropped)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            old = self._records.pop(key, None)
            if old is not None:
                self._total -= len(old[1])

    def __len__(self) -> int:
        return len(self._records)


small_files = SmallFiles()
