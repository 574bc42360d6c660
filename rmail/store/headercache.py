"""Each folder's header cache: the values SEARCH, SORT and THREAD need of every message
(`rmail.mail.headerkeys` records), in one file next to the index, so a header search or a sort
over 100,000 messages reads one file once instead of 100,000 message or meta files.

On disk (`headers.jsonl` in the folder directory), versioned and disposable:

    {"version": 1, "keys": <headerkeys.VERSION>, "uidvalidity": N}\\n
    [uid, ...record...]\\n          (one JSON array per message, in any order)

It is a cache of the meta files (themselves a cache of the messages): written without fsync,
never trusted blindly. A missing file, another version or UIDVALIDITY, or an unreadable first
line means "start again"; a torn last line (a crash mid-append) is ignored and cut off by the
next writer; a message the cache lacks is computed from its meta and appended when it is
asked for. Deliveries append their records as they commit (`Folder._commit`), so the cache
stays current without anyone waiting for it. Expunged messages' records stay until the file
holds twice as many records as the folder has messages; then it is rewritten (temporary file
and rename). Writers take `headers.lock` (flock), readers none: they follow appends by offset
and notice a rewrite by the inode.

The in-memory copy (`uid -> record`) lives as long as the Folder object (one per process and
folder) and is refreshed by reading only what other writers appended since.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from rmail.mail import headerkeys
from rmail.store import fsutil

FORMAT_VERSION = 1
Record = list[Any]


def _header_line(uidvalidity: int) -> bytes:
    return orjson.dumps({"version": FORMAT_VERSION, "keys": headerkeys.VERSION,
                         "uidvalidity": uidvalidity}) + b"\n"


def _parse_records(data: bytes) -> tuple[list[Record], int]:
    """Records of complete, valid lines, and how many bytes they span (a torn or garbled
    line and everything after it are not used)."""
    end = data.rfind(b"\n") + 1
    if end == 0:
        return [], 0
    body = data[:end]
    try:  # the common case: every line good, one parse for all of them
        records = orjson.loads(b"[" + body[:-1].replace(b"\n", b",") + b"]")
        if all(isinstance(r, list) and len(r) == headerkeys.FIELDS for r in records):
            return records, end
    except orjson.JSONDecodeError:
        pass
    records, pos = [], 0
    for line in body.split(b"\n")[:-1]:
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            break
        if not (isinstance(rec, list) and len(rec) == headerkeys.FIELDS):
            break
        records.append(rec)
        pos += len(line) + 1
    return records, pos


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


class HeaderCache:
    """The header cache of one folder (see the module docstring)."""

    def __init__(self, folder_dir: Path, meta_of: Callable[[int], dict[str, Any] | None]
                 ) -> None:
        self.path = str(folder_dir / "headers.jsonl")
        self.lock_path = str(folder_dir / "headers.lock")
        self._meta_of = meta_of  # the parse of a message (Folder.meta), None if it is gone
        self._mem = threading.Lock()
        self._records: dict[int, Record] = {}
        self._key: tuple[int, int] | None = None  # (inode, bytes consumed)
        self._uidvalidity: int | None = None

    # -- reading ------------------------------------------------------------------------------
    def _refresh(self, uidvalidity: int) -> None:
        """Bring the in-memory records up to date with the file; `_mem` held."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._records, self._key, self._uidvalidity = {}, None, uidvalidity
            return
        if self._key is not None and self._uidvalidity == uidvalidity \
                and st.st_ino == self._key[0] and st.st_size >= self._key[1]:
            if st.st_size == self._key[1]:
                return
            with open(self.path, "rb") as f:
                if os.fstat(f.fileno()).st_ino == self._key[0]:
                    f.seek(self._key[1])
                    records, used = _parse_records(f.read())
                    for rec in records:
                        self._records[rec[0]] = rec
                    self._key = (self._key[0], self._key[1] + used)
                    return
        self._load(uidvalidity)

    def _load(self, uidvalidity: int) -> None:
        self._records, self._key, self._uidvalidity = {}, None, uidvalidity
        try:
            with open(self.path, "rb") as f:
                ino = os.fstat(f.fileno()).st_ino
                data = f.read()
        except FileNotFoundError:
            return
        first = data.find(b"\n") + 1
        if first == 0 or data[:first] != _header_line(uidvalidity):
            return  # another version or UIDVALIDITY: the next writer starts a new file
        records, used = _parse_records(data[first:])
        self._records = {rec[0]: rec for rec in records}
        self._key = (ino, first + used)

    def records(self, uids: Sequence[int], uidvalidity: int) -> list[Record | None]:
        """The record of each of `uids` (None for a message that has gone), computing and
        appending those the cache lacks. Runs in a worker thread."""
        with self._mem:
            self._refresh(uidvalidity)
            have = self._records
            missing = [u for u in uids if u not in have]
        if missing:
            self._fill(missing, uidvalidity)
        with self._mem:
            have = self._records
            return [have.get(u) for u in uids]

    def _fill(self, uids: list[int], uidvalidity: int) -> None:
        made: list[Record] = []
        for uid in uids:
            try:
                meta = self._meta_of(uid)
            except Exception:
                meta = None
            if meta is not None:
                made.append(headerkeys.header_record(uid, meta))
        self.add(made, uidvalidity)

    # -- writing ------------------------------------------------------------------------------
    def add_metas(self, items: Iterable[tuple[int, bytes | None]], uidvalidity: int) -> None:
        """Records for freshly committed messages from their meta bytes (delivery)."""
        made = []
        for uid, meta in items:
            if meta is None:
                continue
            with contextlib.suppress(orjson.JSONDecodeError):
                made.append(headerkeys.header_record(uid, orjson.loads(meta)))
        self.add(made, uidvalidity)

    def add(self, records: list[Record], uidvalidity: int) -> None:
        """Append `records` (without fsync: the cache is rebuilt from the meta files)."""
        if not records:
            return
        with fsutil.locked(self.lock_path), self._mem:
            self._refresh(uidvalidity)
            fresh = self._key is None or self._key[0] != _inode(self.path)
            records = [r for r in records if fresh or r[0] not in self._records]
            if not records:  # a reader (or a delivery) of another process was first
                return
            data = b"".join(orjson.dumps(r) + b"\n" for r in records)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # the folder is being deleted
                return
            try:
                st = os.fstat(fd)
                if self._key is None or self._key[0] != st.st_ino:
                    # missing, foreign or outdated: start the file again
                    os.ftruncate(fd, 0)
                    os.write(fd, _header_line(uidvalidity))
                    self._records = {}
                    self._key = (st.st_ino, os.lseek(fd, 0, os.SEEK_END))
                elif st.st_size != self._key[1]:  # a torn tail left by a crashed writer
                    os.ftruncate(fd, self._key[1])
                os.lseek(fd, self._key[1], os.SEEK_SET)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            for rec in records:
                self._records[rec[0]] = rec
            self._key = (self._key[0], self._key[1] + len(data))

    def compact(self, live_uids: Sequence[int], uidvalidity: int) -> None:
        """Rewrite the file with the records of `live_uids` only, when expunged messages'
        records outnumber the live ones."""
        with fsutil.locked(self.lock_path), self._mem:
            self._refresh(uidvalidity)
            if len(self._records) <= 2 * len(live_uids) + 1000:
                return
            keep = {u: r for u in live_uids if (r := self._records.get(u)) is not None}
            data = _header_line(uidvalidity) + b"".join(orjson.dumps(r) + b"\n"
                                                        for r in keep.values())
            fsutil.atomic_write(self.path, data, durable=False)
            self._records = keep
            self._key = (os.stat(self.path).st_ino, len(data))

    def size(self) -> int:
        """Records held in memory (live and expunged messages')."""
        return len(self._records)

    def forget(self) -> None:
        """Drop the in-memory copy (it is read again when next needed)."""
        with self._mem:
            self._records, self._key = {}, None
