"""WebDAV write locks (RFC 4918 class 2) on drive resources.

Stored per user in `drive/_locks.json` (`{"version": 1, "locks": [record, ...]}`), so locks
survive a restart; expired locks are dropped whenever the file is rewritten and ignored when
read. A record: `{"token", "path", "depth" ("0" | "infinity"), "scope" ("exclusive" |
"shared"), "owner" (the client's <owner> XML, verbatim), "timeout", "expires", "principal"}`.

The store only keeps the records and refuses conflicting locks; which requests must present
which token is protocol behaviour and lives in the WebDAV front end.

Lock rules: `_locks.lock` serialises writers of `_locks.json`; readers never lock (the file
changes by atomic rename) and revalidate their cached copy with one `stat`. A new lock is only
granted by `UserDrive.lock`, which holds the drive lock (`files/_index.lock`, taken first) while
it calls `create`: every write checks the tokens it must present under that same drive lock,
so a lock is either granted before a write's check (and the write is refused) or after its
commit (and the write was legitimately first).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from rmail.store import fsutil
from rmail.store.drive.paths import DrivePath
from rmail.store.errors import Conflict, NotFound
from rmail.store.layout import DriveLayout

__all__ = ["MAX_TIMEOUT", "DavLock", "LockConflict", "LockStore"]

VERSION = 1
MAX_TIMEOUT = 7 * 24 * 3600
DEFAULT_TIMEOUT = 3600


class LockConflict(Conflict):
    """The resource (or a member, or an ancestor with depth infinity) is locked already."""


@dataclass(frozen=True)
class DavLock:
    token: str
    path: str
    depth: str
    scope: str
    owner: str
    timeout: int
    expires: float
    principal: str = ""

    @property
    def root(self) -> DrivePath:
        return DrivePath.parse(self.path)

    def covers(self, path: DrivePath) -> bool:
        """True when a write to `path` falls under this lock."""
        root = self.root
        return path == root or (self.depth == "infinity" and path.is_within(root))

    def remaining(self, now: float | None = None) -> int:
        return max(0, int(self.expires - (time.time() if now is None else now)))


class LockStore:
    """The WebDAV locks of one drive."""

    def __init__(self, drive_dir: os.PathLike[str] | str) -> None:
        from pathlib import Path

        self.layout = DriveLayout(Path(drive_dir))
        self._cache: tuple[tuple[int, int, int], list[DavLock]] | None = None
        self._mem = threading.Lock()

    def _read(self) -> list[DavLock]:
        path = self.layout.locks_file
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return []
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._mem:
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
        doc = fsutil.read_json(path, version=VERSION)
        locks = []
        for rec in doc.get("locks", []) if isinstance(doc, dict) else []:
            try:
                locks.append(DavLock(**{k: rec[k] for k in DavLock.__dataclass_fields__}))
            except (KeyError, TypeError):
                continue
        with self._mem:
            self._cache = (key, locks)
        return locks

    def _write(self, locks: list[DavLock]) -> None:
        fsutil.ensure_dir(self.layout.dir)
        fsutil.write_json(self.layout.locks_file,
                          {"version": VERSION, "locks": [asdict(lk) for lk in locks]})

    def active(self, now: float | None = None) -> list[DavLock]:
        now = time.time() if now is None else now
        return [lk for lk in self._read() if lk.expires > now]

    def get(self, token: str) -> DavLock:
        for lk in self.active():
            if lk.token == token:
                return lk
        raise NotFound("no such lock")

    def covering(self, path: DrivePath) -> list[DavLock]:
        """Locks a write to `path` falls under (on it, or depth-infinity on an ancestor)."""
        return [lk for lk in self.active() if lk.covers(path)]

    def within(self, path: DrivePath) -> list[DavLock]:
        """Locks rooted at `path` or anywhere below it."""
        return [lk for lk in self.active() if lk.root.is_within(path)]

    def create(self, path: DrivePath, *, scope: str, depth: str, owner: str = "",
               timeout: int = DEFAULT_TIMEOUT, principal: str = "") -> DavLock:
        if scope not in ("exclusive", "shared") or depth not in ("0", "infinity"):
            raise ValueError("bad lock scope or depth")
        timeout = max(1, min(int(timeout), MAX_TIMEOUT))
        now = time.time()
        with fsutil.locked(self.layout.locks_lock):
            locks = self.active(now)
            for lk in locks:
                overlaps = lk.covers(path) or (depth == "infinity" and lk.root.is_within(path))
                if overlaps and (scope == "exclusive" or lk.scope == "exclusive"):
                    raise LockConflict(f"{path or '/'} is locked")
            new = DavLock(f"opaquelocktoken:{uuid.uuid4()}", str(path), depth, scope, owner,
                          timeout, now + timeout, principal)
            self._write([*locks, new])
        return new

    def refresh(self, token: str, timeout: int = DEFAULT_TIMEOUT) -> DavLock:
        timeout = max(1, min(int(timeout), MAX_TIMEOUT))
        now = time.time()
        with fsutil.locked(self.layout.locks_lock):
            locks = self.active(now)
            for i, lk in enumerate(locks):
                if lk.token == token:
                    locks[i] = DavLock(**{**asdict(lk), "timeout": timeout,
                                          "expires": now + timeout})
                    self._write(locks)
                    return locks[i]
        raise NotFound("no such lock")

    def remove(self, token: str) -> DavLock:
        with fsutil.locked(self.layout.locks_lock):
            locks = self.active()
            for lk in locks:
                if lk.token == token:
                    self._write([x for x in locks if x.token != token])
                    return lk
        raise NotFound("no such lock")

    def remove_within(self, path: DrivePath) -> None:
        """Forget locks on `path` and below (after it was deleted or moved away)."""
        if not self._read():
            return
        with fsutil.locked(self.layout.locks_lock):
            locks = self.active()
            keep = [lk for lk in locks if not lk.root.is_within(path)]
            if len(keep) != len(locks) or len(locks) != len(self._read()):
                self._write(keep)

    def doc(self) -> dict[str, Any]:
        return {"version": VERSION, "locks": [asdict(lk) for lk in self.active()]}
