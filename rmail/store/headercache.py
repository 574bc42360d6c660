"""Each folder's header cache: the values SEARCH, SORT and THREAD need of every message
(`rmail.mail.headerkeys` records), in one file next to the index, so a header search or a sort
over 100,000 messages reads one file once instead of 100,000 messages or meta records.

On disk (`headers.jsonl` in the folder directory), versioned and disposable:

    {"version": 1, "keys": <headerkeys.VERSION>, "uidvalidity": N}\\n
    [uid, ...record...]\\n          (one JSON array per message, in any order)

It is a cache of the meta log (itself a cache of the messages): written without fsync,
never trusted blindly. A missing file, another version or UIDVALIDITY, or an unreadable first
line means "start again"; a torn last line (a crash mid-append) is ignored and cut off by the
next writer; a message the cache lacks is computed from its meta and appended when it is
asked for. Appends write their records while they place their batch (`Folder._place_batch`,
from the parse made when the message was staged), so the cache stays current without anyone
waiting for it. Expunged messages' records stay until the file holds twice as many records as
the folder has messages; then it is rewritten (temporary file and rename).

Writers hold the folder's lock (`folder.lock`), the one a placing batch holds already, so an
append pays no second lock; readers take none: they follow appends by offset and notice a
rewrite by the inode. A later line for a UID replaces an earlier one: a batch that was never
committed (a crash before its journal line reached the disk) may have left records for UIDs
that the next batch is given again. A process that only writes (a delivering worker) never
loads the records: it appends at the end it knows, and checks the header line and cuts a
torn last line only after another process wrote (`HeaderCache._append_unloaded`).

The in-memory copy (`uid -> record`) lives as long as the Folder object (one per process and
folder) and is refreshed by reading only what other writers appended since.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
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



class HeaderCache:
    """The header cache of one folder (see the module docstring)."""

    def __init__(self, folder_dir: Path, lock_path: str,
                 meta_of: Callable[[int], dict[str, Any] | None]) -> None:
        self.path = str(folder_dir / "headers.jsonl")
        self.lock_path = lock_path  # the folder's lock (see the module docstring)
        self._meta_of = meta_of  # the parse of a message (Folder.meta), None if it is gone
        self._mem = threading.Lock()
        self._records: dict[int, Record] = {}
        self._key: tuple[int, int] | None = None  # (inode, bytes consumed)
        self._uidvalidity: int | None = None
        # The file held open between uses while its folder is pinned (`hold`), so a delivery's
        # append and the read of other writers' records open nothing; `_mem` guards both.
        self._held = False
        self._fd = -1
        self._fd_ino = -1
        # What a writer that never loaded the records knows of the file (`_append_unloaded`):
        # (inode, where its last append ended, UIDVALIDITY); the file is unchanged since then
        # exactly when the path still has that inode and size.
        self._w_state: tuple[int, int, int] | None = None

    def hold(self, held: bool) -> None:
        """Keep the file open between uses (True) or not (False), as the folder's own files
        are (`Folder._pin`). Letting go never waits: a thread using the file closes it."""
        self._held = held
        if not held and self._mem.acquire(blocking=False):
            try:
                self._close()
            finally:
                self._mem.release()

    def _close(self) -> None:
        fd, self._fd, self._fd_ino = self._fd, -1, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _file(self, ino: int) -> int:
        """A descriptor of the file whose inode is `ino` (the path's, just stat'ed under
        `_mem`), or -1 when the path now holds another file. Held if `hold` says so."""
        if self._fd >= 0 and self._fd_ino == ino:
            return self._fd
        self._close()
        fd = fsutil.open_inode(self.path, ino)
        if fd < 0:
            return -1
        self._fd, self._fd_ino = fd, ino
        return fd

    def _done(self) -> None:
        """End of a use (`_mem` held): let go of the file unless it is to be held."""
        if not self._held:
            self._close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._close()

    # -- reading ------------------------------------------------------------------------------
    def _refresh(self, uidvalidity: int) -> os.stat_result | None:
        """Bring the in-memory records up to date with the file; `_mem` held. Returns the
        file's stat (None when there is none), which a writer under the lock may trust."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._records, self._key, self._uidvalidity = {}, None, uidvalidity
            return None
        if self._key is not None and self._uidvalidity == uidvalidity \
                and st.st_ino == self._key[0] and st.st_size >= self._key[1]:
            if st.st_size == self._key[1]:
                return st
            fd = self._file(st.st_ino)
            if fd >= 0:
                records, used = _parse_records(fsutil.read_from(fd, self._key[1]))
                for rec in records:
                    self._records[rec[0]] = rec
                self._key = (self._key[0], self._key[1] + used)
                return st
        self._load(uidvalidity)
        return st

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
            self._done()
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
    def add(self, records: list[Record], uidvalidity: int) -> None:
        """Append `records` of messages the cache lacked (without fsync: the cache is rebuilt
        from the meta log); a record another process added meanwhile is kept."""
        if not records:
            return
        with fsutil.locked(self.lock_path), self._mem:
            try:
                self._add_locked(records, uidvalidity, replace=False)
            finally:
                self._done()

    def add_placed(self, records: list[Record], uidvalidity: int) -> None:
        """Append the records of a batch being placed; the caller holds the folder's lock.
        Their UIDs were just allocated, so a record the cache already has for one of them is
        a leftover of a batch never committed, and is replaced."""
        if not records:
            return
        with self._mem:
            try:
                if self._key is not None:  # loaded by a reader of this process: keep it current
                    self._add_locked(records, uidvalidity, replace=True)
                else:
                    self._append_unloaded(records, uidvalidity)
            finally:
                self._done()

    def _append_unloaded(self, records: list[Record], uidvalidity: int) -> None:
        """Append without loading every record into memory, for a process that only writes
        (a delivering worker): the records cost about 1.2 KB a message in memory, 120 MB for a
        100,000-message INBOX, and a delivery needs none of them. Like the meta log's writer,
        it checks the header line and cuts a torn last line only when another process wrote
        since its own last append. `_mem` and the folder lock held."""
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        try:
            st: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            st = None
        fd, end = -1, 0
        if st is not None:
            fd = self._file(st.st_ino)
            if fd < 0:
                return  # cannot happen under the lock; the next writer starts again
            if self._w_state == (st.st_ino, st.st_size, uidvalidity):
                end = st.st_size  # nobody wrote since our last append
            else:
                head = _header_line(uidvalidity)
                if os.pread(fd, len(head), 0) == head:
                    end = fsutil.cut_torn_line(fd, st.st_size, len(head))
                else:
                    fd = -1  # another version or UIDVALIDITY: start the file again
        if fd < 0:
            fd, end = self._start_file(uidvalidity)
            if fd < 0:
                return
        fsutil.pwrite_all(fd, data, end)
        self._w_state = (self._fd_ino, end + len(data), uidvalidity)

    def _start_file(self, uidvalidity: int) -> tuple[int, int]:
        """Empty the file (or create it) and write its header line; returns its descriptor
        and the header's length, or -1 when the folder is being deleted."""
        self._close()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            return -1, 0
        self._fd, self._fd_ino = fd, os.fstat(fd).st_ino
        os.ftruncate(fd, 0)
        head = _header_line(uidvalidity)
        fsutil.write_all(fd, head)
        return fd, len(head)

    def _add_locked(self, records: list[Record], uidvalidity: int, *, replace: bool) -> None:
        # Only writers holding the lock change the file, so the refresh's stat stays true.
        st = self._refresh(uidvalidity)
        fresh = self._key is None or st is None or self._key[0] != st.st_ino
        if not (fresh or replace):
            records = [r for r in records if r[0] not in self._records]
        if not records:  # a reader (or a delivery) of another process was first
            return
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        if fresh:  # missing, foreign or outdated: start the file again
            fd, end = self._start_file(uidvalidity)
            if fd < 0:
                return
            self._records = {}
            self._key = (self._fd_ino, end)
        else:
            assert self._key is not None and st is not None
            fd = self._file(st.st_ino)
            if fd < 0:
                return  # cannot happen under the lock; the next writer starts again
            if st.st_size != self._key[1]:  # a torn tail left by a crashed writer
                os.ftruncate(fd, self._key[1])
        fsutil.pwrite_all(fd, data, self._key[1])
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
            self._close()  # the old file
            self._records = keep
            self._key = (os.stat(self.path).st_ino, len(data))

    def size(self) -> int:
        """Records held in memory (live and expunged messages')."""
        return len(self._records)

    def forget(self) -> None:
        """Drop the in-memory copy (it is read again when next needed)."""
        with self._mem:
            self._records, self._key = {}, None
            self._close()
