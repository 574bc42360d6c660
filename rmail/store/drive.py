"""Per-user file storage ("drive"): plain files plus one JSON index per directory.

Disk layout (`rmail.store.layout.DriveLayout`):

```
drive/
  _meta.json         {"version", "ctag", "sync_token", "total_files", "total_dirs",
                      "total_bytes", "pending"}
  tmp/               staged uploads, trees being copied in, trees being deleted
  files/             the user's tree exactly as the user sees it
    _index.json      {"version", "name", "ctag", "mtime", "created", "self_files", "self_dirs",
                      "self_bytes", "total_files", "total_dirs", "total_bytes",
                      "children": {name: {"type": "file", "size", "etag", "mtime",
                                          "content_type", "created"[, "props"]}
                                         | {"type": "dir", "mtime", "created"[, "props"]}}
                      [, "props"]}            (root only: the root's own dead properties)
    _index.lock      the writer lock of this drive
    docs/_index.json ...
```

`self_*` count the children of one directory, `total_*` everything below it (a directory does not
count itself). Every write adjusts the changed directory and each ancestor up to the root in the
same commit, so any directory's totals cost one read. ETags are the first 32 hex digits of the
content's SHA-256. WebDAV dead properties live in the parent's entry for the resource (so they
move, copy and vanish with it); the root keeps its own in its index.

Lock rules (STYLE.md #7):
- Every commit takes `files/_index.lock` (`fsutil.locked`, flock + thread lock) and holds it
  while it rewrites indexes and `_meta.json`. The manual draws one lock at the root, and it is
  the right grain: since totals propagate to the root on every write, each writer must hold the
  root index anyway, so per-directory locks would add acquisitions without adding parallelism.
- Bytes are staged in `tmp/` with no lock held (`Upload`): only the rename and the index updates
  run under the lock. The store is synchronous: callers run it in a worker thread.
- Readers never lock: index files change only by atomic rename. Parsed indexes are cached per
  process and revalidated with one `stat`.

Crash safety: a commit first writes `_meta.json` with `"pending"` naming the directories whose
membership it changes, then renames data into place, rewrites indexes deepest first, and finally
writes `_meta.json` without `"pending"`. The next writer (or the first reader of this process)
that finds `"pending"` while holding the lock knows its writer died: it rebuilds those
directories' indexes from disk and recomputes totals up to the root, so a `kill -9` at any
instant leaves exact totals and never a partial file (a partial upload only ever lived in tmp/,
which is swept of dead processes' files).

Untrusted input: every name passes `check_name` (the `fsutil.check_component` gate plus the
drive's rules). On disk, symbolic links are never followed: directories are checked with
`lstat` on the way down and files are opened with `O_NOFOLLOW`.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import secrets
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, cast, overload

import orjson

from rmail.store import fsutil
from rmail.store.errors import (
    AlreadyExists,
    Conflict,
    CorruptStore,
    NotFound,
    PreconditionFailed,
    QuotaExceeded,
    StoreError,
    UnsafeName,
)
from rmail.store.layout import DriveLayout, Layout
from rmail.store.smallfiles import small_files

__all__ = [
    "DIR",
    "FILE",
    "MAX_DEPTH",
    "DirInfo",
    "DrivePath",
    "DriveStore",
    "Entry",
    "Quota",
    "Upload",
    "UserDrive",
    "WriteRefused",
    "check_name",
    "etag_of_digest",
]

INDEX_VERSION = 1
META_VERSION = 1
MAX_DEPTH = 64
FILE = "file"
DIR = "dir"
CHUNK = 1024 * 1024
_COUNTERS = ("files", "dirs", "bytes")




class WriteRefused(StoreError):
    """The caller's rule for this write (`may_create` / `may_overwrite`: a share link's
    permissions) refused it, checked under the lock so no race can slip past it."""


# ---------------------------------------------------------------------------------------------
# Names and paths


def check_name(name: str, *, what: str = "path component") -> str:
    """The drive's rules on top of the one name gate: no `..` anywhere, nothing starting with
    `_` (reserved for `_index.json`, `_meta.json`, `_share` ...), no `*.tmp`, <= 255 bytes."""
    return fsutil.check_component(name, what=what, reserved_prefix="_", forbidden=("..",))


@dataclass(frozen=True, order=True)
class DrivePath:
    """A validated path inside one drive; `()` is the root."""

    parts: tuple[str, ...] = ()

    @classmethod
    def from_parts(cls, parts: Iterable[str]) -> DrivePath:
        key = tuple(parts)
        known = _VALID_PATHS.get(key)
        if known is not None:
            return known
        checked = tuple(check_name(p) for p in key)
        if len(checked) > MAX_DEPTH:
            raise UnsafeName(f"path is deeper than {MAX_DEPTH} components")
        path = cls(checked)
        if len(_VALID_PATHS) >= 4096:
            _VALID_PATHS.clear()
        _VALID_PATHS[key] = path
        return path

    @classmethod
    def parse(cls, text: str) -> DrivePath:
        """`"docs/a.txt"` (one trailing `/` allowed). Absolute paths and empty components are
        refused: a relative path is all that ever reaches the drive."""
        if not isinstance(text, str):
            raise UnsafeName("path must be a string")
        if text.startswith("/"):
            raise UnsafeName(f"path {text!r} is absolute")
        if text.endswith("/"):
            text = text[:-1]
        if not text:
            return cls(())
        return cls.from_parts(text.split("/"))

    @property
    def is_root(self) -> bool:
        return not self.parts

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else ""

    @property
    def parent(self) -> DrivePath:
        if not self.parts:
            raise Conflict("the drive root has no parent")
        return DrivePath(self.parts[:-1])

    @property
    def depth(self) -> int:
        return len(self.parts)

    def child(self, name: str) -> DrivePath:
        return DrivePath.from_parts((*self.parts, name))

    def join(self, other: DrivePath) -> DrivePath:
        if len(self.parts) + len(other.parts) > MAX_DEPTH:
            raise UnsafeName(f"path is deeper than {MAX_DEPTH} components")
        return DrivePath(self.parts + other.parts)

    def is_within(self, other: DrivePath) -> bool:
        """True when self is `other` or below it."""
        return self.parts[: len(other.parts)] == other.parts

    def relative_to(self, other: DrivePath) -> DrivePath:
        if not self.is_within(other):
            raise ValueError(f"{self} is not within {other}")
        return DrivePath(self.parts[len(other.parts):])

    def ancestors(self) -> list[DrivePath]:
        """Self first, root last."""
        return [DrivePath(self.parts[:i]) for i in range(len(self.parts), -1, -1)]

    def __str__(self) -> str:
        return "/".join(self.parts)


# ---------------------------------------------------------------------------------------------
# Records


# Paths that passed the name gate recently (validation is a pure function of the parts): a
# busy client asks for the same few paths again and again.
_VALID_PATHS: dict[tuple[str, ...], DrivePath] = {}


def etag_of_digest(hexdigest: str) -> str:
    """The quoted strong ETag for a SHA-256 hex digest: the first 32 hex digits."""
    return f'"{hexdigest[:32]}"'


@dataclass(frozen=True)
class Entry:
    """One file or directory as its parent's index describes it."""

    path: DrivePath
    kind: str
    mtime: float
    created: float
    size: int = 0
    etag: str = ""
    content_type: str = ""
    props: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_dir(self) -> bool:
        return self.kind == DIR

    @property
    def name(self) -> str:
        return self.path.name

    def public(self) -> dict[str, Any]:
        """The JSON shape shown to clients (no dead properties)."""
        doc: dict[str, Any] = {"name": self.name, "path": str(self.path), "type": self.kind,
                               "mtime": self.mtime}
        if self.kind == FILE:
            doc.update(size=self.size, etag=self.etag, content_type=self.content_type)
        return doc


@dataclass(frozen=True)
class DirInfo:
    """A directory's own index: its counters and its children."""

    entry: Entry
    ctag: int
    counters: Mapping[str, int]
    children: tuple[Entry, ...]

    def public(self) -> dict[str, Any]:
        doc = self.entry.public()
        doc["ctag"] = self.ctag
        doc.update(self.counters)
        doc["children"] = [c.public() for c in self.children]
        return doc


@dataclass(frozen=True)
class Quota:
    """A user's limit and what other stores (mail) already use of it."""

    limit_bytes: int
    other_bytes: int = 0


def _entry(path: DrivePath, rec: Mapping[str, Any]) -> Entry:
    kind = rec.get("type")
    if kind not in (FILE, DIR):
        raise CorruptStore(f"drive entry {path} has type {kind!r}")
    mtime = float(rec.get("mtime", 0.0))
    return Entry(path, kind, mtime, float(rec.get("created", mtime)),
                 int(rec.get("size", 0)), str(rec.get("etag", "")),
                 str(rec.get("content_type", "")), dict(rec.get("props") or {}))


def _sort_key(e: Entry) -> tuple[int, str]:
    return (0 if e.is_dir else 1, e.name)


def _new_index(name: str, now: float) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": INDEX_VERSION, "name": name, "ctag": 0, "mtime": now,
                           "created": now, "children": {}}
    for c in _COUNTERS:
        doc[f"self_{c}"] = 0
        doc[f"total_{c}"] = 0
    return doc


def _totals(doc: Mapping[str, Any]) -> tuple[int, int, int]:
    return (int(doc.get("total_files", 0)), int(doc.get("total_dirs", 0)),
            int(doc.get("total_bytes", 0)))


def guess_type(name: str, offered: str | None = None) -> str:
    """The client's Content-Type unless it is a generic one, else a guess from the name."""
    if offered:
        base = offered.split(";", 1)[0].strip().lower()
        if base and base not in ("application/octet-stream",
                                 "application/x-www-form-urlencoded") \
                and not base.startswith("multipart/") and "/" in base:
            return offered.strip()[:255]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


# ---------------------------------------------------------------------------------------------
# Staged uploads

_IOV_MAX = 1024  # buffers per writev(2) (the Linux limit)


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
        """Append `chunks` to the file with as few syscalls as possible, without hashing them:
        `hash_chunks` does that, possibly in another thread at the same time (both release
        the GIL), because SHA-256 and the copy into the page cache cost about the same."""
        if self._fd is None:
            raise ValueError("upload is closed")
        total = sum(len(c) for c in chunks)
        if self.limit is not None and self.size + total > self.limit:
            raise QuotaExceeded("quota exceeded")
        views = [memoryview(c) for c in chunks if c]
        while views:
            n = os.writev(self._fd, views[:_IOV_MAX])
            while views and n >= len(views[0]):
                n -= len(views[0])
                views.pop(0)
            if n:
                views[0] = views[0][n:]
        self.size += total

    def hash_chunks(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        """The hashing half of `store_chunks` (call both, in the same order of batches)."""
        for chunk in chunks:
            self._sha.update(chunk)

    def start_writeback(self) -> None:
        """Flush what was written so far while more is still arriving, so the fdatasync
        before the commit has little left to wait for. Safe next to `store_chunks`; the
        caller must not `abort()` while it runs."""
        if self._fd is not None:
            os.fdatasync(self._fd)

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

    def _finish(self) -> None:
        """Make the staged bytes durable (before they are renamed into the tree)."""
        if self._fd is not None:
            try:
                os.fdatasync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None

    def _committed(self) -> None:
        self._done = True

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if not self._done:
            self._done = True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


# ---------------------------------------------------------------------------------------------
# The store


class DriveStore:
    """Entry point: one per process and mail root; hands out (cached) `UserDrive`s."""

    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        self.layout = Layout(mail_root)
        self._drives: dict[tuple[str, str], UserDrive] = {}
        self._lock = threading.Lock()

    def drive(self, domain: str, username: str) -> UserDrive:
        """The drive of an existing user (names already validated by the accounts layer)."""
        key = (domain, username)
        with self._lock:
            d = self._drives.get(key)
            if d is None:
                if not self.layout.user_dir(domain, username).is_dir():
                    raise NotFound(f"no user {username}@{domain}")
                d = UserDrive(self.layout.drive_dir(domain, username), domain, username)
                self._drives[key] = d
        d.open()
        return d

    def cached(self, domain: str, username: str) -> UserDrive | None:
        """The drive when it was opened before in this process (no I/O: safe on a loop)."""
        d = self._drives.get((domain, username))
        return d if d is not None and d._opened else None

    def forget(self, domain: str, username: str) -> None:
        with self._lock:
            self._drives.pop((domain, username), None)


class _Txn:
    """The index documents one commit reads and rewrites, all under the drive lock."""

    def __init__(self, drive: UserDrive, now: float) -> None:
        self.drive = drive
        self.now = now
        self.docs: dict[DrivePath, dict[str, Any]] = {}
        self.dirty: set[DrivePath] = set()
        self.after: list[Callable[[], None]] = []
        self.marked = False
        self._mark: Callable[[], None] | None = None

    def mark(self) -> None:
        """Record in `_meta.json` that files are about to change (once per commit)."""
        if not self.marked:
            if self._mark is not None:
                self._mark()
            self.marked = True

    def doc(self, d: DrivePath) -> dict[str, Any]:
        doc = self.docs.get(d)
        if doc is None:
            doc = self.drive._read_index(d, cached=False)
            self.docs[d] = doc
        return doc

    def touch(self, d: DrivePath) -> None:
        """`d`'s membership changed: bump its ctag and mtime and its entry's mtime in its
        parent."""
        doc = self.doc(d)
        doc["mtime"] = self.now
        self.dirty.add(d)
        if not d.is_root:
            parent = self.doc(d.parent)
            rec = parent["children"].get(d.name)
            if rec is not None:
                rec["mtime"] = self.now
                self.dirty.add(d.parent)

    def adjust(self, d: DrivePath, files: int, dirs: int, nbytes: int) -> None:
        """Add to `d`'s totals and to every ancestor's."""
        for a in d.ancestors():
            doc = self.doc(a)
            doc["total_files"] = int(doc.get("total_files", 0)) + files
            doc["total_dirs"] = int(doc.get("total_dirs", 0)) + dirs
            doc["total_bytes"] = int(doc.get("total_bytes", 0)) + nbytes
            self.dirty.add(a)

    def add_child(self, d: DrivePath, name: str, rec: dict[str, Any],
                  subtree: tuple[int, int, int] = (0, 0, 0)) -> None:
        """Insert a child record (already on disk); `subtree` is what a directory holds."""
        doc = self.doc(d)
        if name in doc["children"]:
            raise AlreadyExists(f"{d.child(name)} exists")
        doc["children"][name] = rec
        if rec["type"] == FILE:
            doc["self_files"] = int(doc.get("self_files", 0)) + 1
            doc["self_bytes"] = int(doc.get("self_bytes", 0)) + int(rec.get("size", 0))
            self.adjust(d, 1, 0, int(rec.get("size", 0)))
        else:
            doc["self_dirs"] = int(doc.get("self_dirs", 0)) + 1
            self.adjust(d, subtree[0], subtree[1] + 1, subtree[2])
        self.touch(d)

    def remove_child(self, d: DrivePath, name: str) -> tuple[dict[str, Any], tuple[int, int, int]]:
        """Drop a child record; returns it and what it held (for a directory, its totals)."""
        doc = self.doc(d)
        rec = doc["children"].pop(name, None)
        if rec is None:
            raise NotFound(f"{d.child(name)} not found")
        if rec["type"] == FILE:
            size = int(rec.get("size", 0))
            doc["self_files"] = int(doc.get("self_files", 0)) - 1
            doc["self_bytes"] = int(doc.get("self_bytes", 0)) - size
            self.adjust(d, -1, 0, -size)
            held = (1, 0, size)
        else:
            child = d.child(name)
            sub = _totals(self.doc(child))
            self.docs.pop(child, None)
            self.dirty.discard(child)
            doc["self_dirs"] = int(doc.get("self_dirs", 0)) - 1
            self.adjust(d, -sub[0], -(sub[1] + 1), -sub[2])
            held = (sub[0], sub[1] + 1, sub[2])
        self.touch(d)
        return rec, held

    def replace_file(self, d: DrivePath, name: str, rec: dict[str, Any]) -> int:
        """Swap the record of an existing file; returns the old size."""
        doc = self.doc(d)
        old = doc["children"][name]
        old_size = int(old.get("size", 0))
        doc["children"][name] = rec
        delta = int(rec.get("size", 0)) - old_size
        doc["self_bytes"] = int(doc.get("self_bytes", 0)) + delta
        self.adjust(d, 0, 0, delta)
        self.touch(d)
        return old_size


class UserDrive:
    """One user's drive. All methods are synchronous (they fsync): run them in a thread."""

    def __init__(self, drive_dir: Path, domain: str = "", username: str = "") -> None:
        self.layout = DriveLayout(drive_dir)
        self.domain = domain
        self.username = username
        self._cache: OrderedDict[DrivePath, tuple[tuple[int, int, int], dict[str, Any]]] = \
            OrderedDict()
        self._cache_lock = threading.Lock()
        self._files_dir = str(self.layout.files)  # hot paths join strings, not Paths
        self._commits = 0  # this process's commits to this drive (see `_invalidate`)
        self._opened = False
        self._open_lock = threading.Lock()

    # -- opening and recovery ---------------------------------------------------------------
    def open(self) -> None:
        """Create the drive on first use; once per process, finish a dead writer's commit and
        sweep its staged files."""
        if self._opened:
            return
        with self._open_lock:
            if self._opened:
                return
            lay = self.layout
            fsutil.ensure_dir(lay.tmp)
            if not (lay.files / DriveLayout.INDEX).exists() or not lay.meta.exists():
                fsutil.ensure_dir(lay.files)
                with fsutil.locked(lay.lock):
                    if not (lay.files / DriveLayout.INDEX).exists():
                        fsutil.write_json(lay.files / DriveLayout.INDEX,
                                          _new_index("", time.time()))
                    if not lay.meta.exists():
                        self._write_meta(self._new_meta(), pending=[])
            self._sweep_tmp()
            meta = self.meta()
            if meta.get("pending"):
                with fsutil.locked(lay.lock):
                    self._recover_locked()
            self._opened = True

    def _sweep_tmp(self) -> None:
        """Remove what dead processes left in tmp/ (their uploads never committed)."""
        me = os.getpid()
        try:
            names = os.listdir(self.layout.tmp)
        except FileNotFoundError:
            return
        for name in names:
            try:
                pid = int(name.split(".", 2)[1])
            except (IndexError, ValueError):
                pid = 0
            if pid == me or (pid and _alive(pid)):
                continue
            path = self.layout.tmp / name
            if path.is_dir() and not path.is_symlink():
                fsutil.remove_tree(path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    def _new_meta(self) -> dict[str, Any]:
        return {"version": META_VERSION, "ctag": 0, "sync_token": "drive-0",
                "total_files": 0, "total_dirs": 0, "total_bytes": 0, "pending": []}

    def meta(self) -> dict[str, Any]:
        """`_meta.json`: ctag, sync_token and the drive's totals."""
        try:
            doc = fsutil.read_json(self.layout.meta, version=META_VERSION)
        except FileNotFoundError:
            return self._new_meta()
        if not isinstance(doc, dict):
            raise CorruptStore(f"{self.layout.meta}: not an object")
        return doc

    def _write_meta(self, doc: dict[str, Any], *, pending: list[str]) -> None:
        doc = dict(doc)
        doc["pending"] = pending
        fsutil.write_json(self.layout.meta, doc)

    def _recover_locked(self) -> None:
        """Rebuild the directories a dead writer was changing, then totals up to the root."""
        meta = self.meta()
        pending = meta.get("pending") or []
        dirs: set[DrivePath] = set()
        for text in pending:
            try:
                d = DrivePath.parse(text)
            except UnsafeName:
                continue
            # the deepest existing directory on the way (the pending one may have vanished)
            while not d.is_root and not self._is_real_dir(d):
                d = d.parent
            dirs.add(d)
        for d in sorted(dirs, key=lambda p: -p.depth):
            self._rebuild_dir(d, recursive=False)
        ancestors = {a for d in dirs for a in d.ancestors()[1:]}
        for a in sorted(ancestors, key=lambda p: -p.depth):
            self._recount(a)
        self._finish_meta(meta)

    def repair(self) -> None:
        """Rebuild every index of this drive from the files on disk (for `rmail check`, or
        after an administrator copied files into the tree by hand)."""
        with fsutil.locked(self.layout.lock):
            self._rebuild_dir(DrivePath(), recursive=True)
            self._finish_meta(self.meta())

    def _finish_meta(self, meta: dict[str, Any]) -> None:
        root = self._read_index(DrivePath(), cached=False)
        ctag = int(meta.get("ctag", 0)) + 1
        meta.update(ctag=ctag, sync_token=f"drive-{ctag}")
        for c in _COUNTERS:
            meta[f"total_{c}"] = int(root.get(f"total_{c}", 0))
        self._write_meta(meta, pending=[])
        self._invalidate()

    def _rebuild_dir(self, d: DrivePath, *, recursive: bool) -> tuple[int, int, int]:
        """Rewrite `d`'s index from what is on disk; returns its totals."""
        try:
            old = self._read_index(d, cached=False)
        except (NotFound, CorruptStore):
            old = _new_index(d.name, time.time())
        base = self.layout.dir_path(d.parts)
        children: dict[str, Any] = {}
        counts = {"self_files": 0, "self_dirs": 0, "self_bytes": 0}
        totals = [0, 0, 0]
        with os.scandir(base) as it:
            entries = sorted(it, key=lambda e: e.name)
        for de in entries:
            try:
                check_name(de.name)
            except UnsafeName:
                continue  # _index.json, _index.lock, strays: never part of the tree
            st = de.stat(follow_symlinks=False)
            prev = old["children"].get(de.name) or {}
            if stat.S_ISDIR(st.st_mode):
                child = d.child(de.name)
                if recursive or not (base / de.name / DriveLayout.INDEX).exists():
                    sub = self._rebuild_dir(child, recursive=recursive)
                else:
                    sub = _totals(self._read_index(child, cached=False))
                rec = {"type": DIR, "mtime": prev.get("mtime", st.st_mtime),
                       "created": prev.get("created", st.st_mtime)}
                counts["self_dirs"] += 1
                totals[0] += sub[0]
                totals[1] += sub[1] + 1
                totals[2] += sub[2]
            elif stat.S_ISREG(st.st_mode):
                if prev.get("type") == FILE and prev.get("size") == st.st_size and \
                        prev.get("mtime") == st.st_mtime and prev.get("etag"):
                    rec = {k: v for k, v in prev.items() if k != "props"}
                else:
                    rec = {"type": FILE, "size": st.st_size, "etag": _hash_file(base / de.name),
                           "mtime": st.st_mtime, "created": prev.get("created", st.st_mtime),
                           "content_type": prev.get("content_type") or guess_type(de.name)}
                counts["self_files"] += 1
                counts["self_bytes"] += st.st_size
                totals[0] += 1
                totals[2] += st.st_size
            else:
                continue  # symlinks, sockets, devices: never adopted, never followed
            if prev.get("props"):
                rec["props"] = prev["props"]
            children[de.name] = rec
        doc = dict(old)
        doc.update(counts)
        doc.update(version=INDEX_VERSION, name=d.name, children=children,
                   ctag=int(old.get("ctag", 0)) + 1, total_files=totals[0],
                   total_dirs=totals[1], total_bytes=totals[2])
        fsutil.write_json(base / DriveLayout.INDEX, doc)
        return (totals[0], totals[1], totals[2])

    def _recount(self, d: DrivePath) -> None:
        """Recompute `d`'s totals from its own counters and its child directories' totals."""
        doc = self._read_index(d, cached=False)
        totals = [int(doc.get("self_files", 0)), int(doc.get("self_dirs", 0)),
                  int(doc.get("self_bytes", 0))]
        for name, rec in doc["children"].items():
            if rec.get("type") == DIR:
                try:
                    sub = _totals(self._read_index(d.child(name), cached=False))
                except (NotFound, CorruptStore):
                    sub = self._rebuild_dir(d.child(name), recursive=True)
                totals[0] += sub[0]
                totals[1] += sub[1]
                totals[2] += sub[2]
        doc.update(total_files=totals[0], total_dirs=totals[1], total_bytes=totals[2])
        fsutil.write_json(self.layout.dir_path(d.parts) / DriveLayout.INDEX, doc)

    # -- reading ------------------------------------------------------------------------------
    def _is_real_dir(self, d: DrivePath) -> bool:
        """Each component below files/ is a directory, not a symlink to one."""
        p = self._files_dir
        for part in d.parts:
            p = os.path.join(p, part)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                return False
            if not stat.S_ISDIR(st.st_mode):
                return False
        return True

    @overload
    def _read_index(self, d: DrivePath, *, cached: bool = True,
                    memory_only: Literal[False] = False) -> dict[str, Any]: ...

    @overload
    def _read_index(self, d: DrivePath, *, cached: bool = True,
                    memory_only: bool) -> dict[str, Any] | None: ...

    def _read_index(self, d: DrivePath, *, cached: bool = True,
                    memory_only: bool = False) -> dict[str, Any] | None:
        """A directory's parsed `_index.json`, reused while the file is unchanged. With
        `memory_only`, None instead of reading and parsing the file (see `peek`)."""
        if not self._is_real_dir(d):
            raise NotFound(f"{d or '/'} not found")
        path = os.path.join(self._files_dir, *d.parts, DriveLayout.INDEX)
        try:
            st = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            raise NotFound(f"{d or '/'} has no index") from None
        if not stat.S_ISREG(st.st_mode):
            raise CorruptStore(f"{path}: not a regular file")
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if cached:
            with self._cache_lock:
                hit = self._cache.get(d)
                if hit is not None and hit[0] == key:
                    self._cache.move_to_end(d)
                    return hit[1]
        if memory_only:
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            raw = f.read()
        try:
            doc = orjson.loads(raw)
        except ValueError as exc:
            raise CorruptStore(f"{path}: not valid JSON") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("children"), dict):
            raise CorruptStore(f"{path}: not a drive index")
        if int(doc.get("version", 1)) > INDEX_VERSION:
            raise CorruptStore(f"{path}: format version {doc.get('version')} is newer")
        if cached:
            with self._cache_lock:
                self._cache[d] = (key, doc)
                if len(self._cache) > 512:
                    self._cache.popitem(last=False)
        return doc

    def _invalidate(self) -> None:
        """After our own commit. The caches are keyed by a file's (inode, mtime, size), and
        ext4 hands a just-freed inode to the next new file with an mtime from a coarse clock,
        so two quick same-size rewrites can look identical: forget what this drive cached.
        (A commit reads its indexes from disk under the lock for the same reason.)"""
        with self._cache_lock:
            self._cache.clear()
            self._commits += 1

    def stat(self, path: DrivePath) -> Entry:
        """The entry at `path` (the root included); NotFound when missing."""
        if path.is_root:
            doc = self._read_index(path)
            return Entry(path, DIR, float(doc.get("mtime", 0.0)),
                         float(doc.get("created", doc.get("mtime", 0.0))),
                         props=dict(doc.get("props") or {}))
        try:
            doc = self._read_index(path.parent)
        except NotFound:
            raise NotFound(f"{path} not found") from None
        rec = doc["children"].get(path.name)
        if rec is None:
            raise NotFound(f"{path} not found")
        return _entry(path, rec)

    def peek(self, path: DrivePath) -> Entry | None:
        """`stat` when it can be answered without reading an index (its parent's parsed index
        is in memory and its file unchanged): a few `lstat`s, cheap enough for an event loop.
        None means "ask `stat` in a worker thread"; NotFound is raised as `stat` would."""
        if path.is_root:
            return None
        try:
            doc = self._read_index(path.parent, memory_only=True)
        except NotFound:
            raise NotFound(f"{path} not found") from None
        if doc is None:
            return None
        rec = doc["children"].get(path.name)
        if rec is None:
            raise NotFound(f"{path} not found")
        return _entry(path, rec)

    def exists(self, path: DrivePath) -> bool:
        try:
            self.stat(path)
        except NotFound:
            return False
        return True

    def listdir(self, path: DrivePath) -> DirInfo:
        """A directory's entry, counters and children (directories first, then by name)."""
        entry = self.stat(path)
        if not entry.is_dir:
            raise Conflict(f"{path} is not a directory")
        doc = self._read_index(path)
        children = tuple(sorted((_entry(path.child(n), rec) for n, rec in
                                 doc["children"].items()), key=_sort_key))
        counters = {k: int(doc.get(k, 0)) for k in
                    ("self_files", "self_dirs", "self_bytes", "total_files", "total_dirs",
                     "total_bytes")}
        return DirInfo(entry, int(doc.get("ctag", 0)), counters, children)

    def walk(self, path: DrivePath, depth: int | None) -> Iterator[Entry]:
        """`path` and what lies below it, parents before children, `depth` levels deep
        (None: all)."""
        top = self.stat(path)
        yield top
        if not top.is_dir or depth == 0:
            return
        queue: list[tuple[DrivePath, int]] = [(path, 1)]
        while queue:
            d, level = queue.pop(0)
            try:
                info = self.listdir(d)
            except (NotFound, Conflict):
                continue
            for child in info.children:
                yield child
                if child.is_dir and (depth is None or level < depth):
                    queue.append((child.path, level + 1))

    def open_file(self, path: DrivePath) -> tuple[Entry, IO[bytes]]:
        """Open a file for reading without following symlinks; the entry matches the bytes
        (a concurrent overwrite is retried). The caller closes the file."""
        for _ in range(5):
            entry = self.stat(path)
            if entry.is_dir:
                raise Conflict(f"{path} is a directory")
            fobj = self._open_matching(entry)
            if fobj is not None:
                return entry, fobj
            time.sleep(0.001)
        raise Conflict(f"{path} is changing; try again")

    def peek_open(self, path: DrivePath) -> tuple[Entry, IO[bytes]] | None:
        """`open_file` for an event loop: None when `peek` cannot answer from memory, the
        path is a directory, or the file is being replaced (the caller then uses
        `open_file` in a worker thread)."""
        entry = self.peek(path)
        if entry is None or entry.is_dir:
            return None
        fobj = self._open_matching(entry)
        return None if fobj is None else (entry, fobj)

    def peek_small(self, path: DrivePath) -> tuple[Entry, bytes] | None:
        """A small file's entry and bytes for an event loop: from `small_files` while its
        directory index is unchanged (one `stat`), else read once and remembered. None when
        `peek_open` (or a worker thread) must answer."""
        if path.is_root:
            return None
        key = (self._files_dir, path.parts)
        hit = small_files.get(key)
        if hit is not None:
            record, body = hit
            index_path, index_id, commits, entry = cast(
                tuple[str, tuple[int, int, int], int, Entry], record)
            try:
                st = os.stat(index_path, follow_symlinks=False)
            except OSError:
                st = None
            if st is not None and commits == self._commits and \
                    (st.st_ino, st.st_mtime_ns, st.st_size) == index_id:
                return entry, body
            small_files.discard(key)
        return self._read_small(path, key)

    def _read_small(self, path: DrivePath, key: tuple[str, tuple[str, ...]]
                    ) -> tuple[Entry, bytes] | None:
        commits = self._commits  # read first: a commit racing with us makes the record stale
        parent = path.parent
        index_path = os.path.join(self._files_dir, *parent.parts, DriveLayout.INDEX)
        try:
            before = os.stat(index_path, follow_symlinks=False)
        except OSError:  # missing, or a file where a directory was expected: the slow path
            return None  # gives the proper answer
        entry = self.peek(path)
        if entry is None or entry.is_dir or entry.size > small_files.max_body:
            return None
        fobj = self._open_matching(entry)
        if fobj is None:
            return None
        with fobj:
            body = fobj.read(entry.size + 1)
        if len(body) != entry.size:
            return None  # changed under us: let the careful path retry
        index_id = (before.st_ino, before.st_mtime_ns, before.st_size)
        after = os.stat(index_path, follow_symlinks=False)
        if (after.st_ino, after.st_mtime_ns, after.st_size) == index_id:
            small_files.put(key, (index_path, index_id, commits, entry), body)
        return entry, body

    def _open_matching(self, entry: Entry) -> IO[bytes] | None:
        """The file of `entry` opened, or None when what is on disk is not (yet) what the
        index describes (an overwrite between reading the index and opening)."""
        disk = os.path.join(self._files_dir, *entry.path.parts)
        try:
            fd = os.open(disk, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:  # ELOOP: a planted symlink
            raise NotFound(f"{entry.path} not found") from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise NotFound(f"{entry.path} not found")
        if st.st_size == entry.size and st.st_mtime == entry.mtime:
            return os.fdopen(fd, "rb")
        os.close(fd)
        return None

    def usage_bytes(self) -> int:
        """Bytes stored in this drive: O(1), from the root index."""
        try:
            return int(self._read_index(DrivePath()).get("total_bytes", 0))
        except NotFound:
            return 0

    def counters(self, path: DrivePath = DrivePath()) -> dict[str, int]:
        doc = self._read_index(path)
        return {k: int(doc.get(k, 0)) for k in
                ("self_files", "self_dirs", "self_bytes", "total_files", "total_dirs",
                 "total_bytes")}

    # -- the commit protocol ----------------------------------------------------------------
    @contextlib.contextmanager
    def _commit(self, pending: Iterable[DrivePath]) -> Iterator[_Txn]:
        """Hold the drive lock; the caller calls `txn.mark()` before it changes anything on
        disk (that writes `"pending"` into `_meta.json`), changes files and records; then the
        changed indexes are written deepest first and `_meta.json` is rewritten without the
        mark. A failure after the mark lets recovery make the indexes match the disk."""
        self.open()
        with fsutil.locked(self.layout.lock):
            meta = self.meta()
            if meta.get("pending"):
                self._recover_locked()
                meta = self.meta()
            txn = _Txn(self, time.time())
            marks = sorted({str(p) for p in pending})
            txn._mark = lambda: self._write_meta(meta, pending=marks)
            try:
                yield txn
                for d in sorted(txn.dirty, key=lambda p: -p.depth):
                    doc = txn.docs[d]
                    doc["ctag"] = int(doc.get("ctag", 0)) + 1
                    fsutil.write_json(self.layout.dir_path(d.parts) / DriveLayout.INDEX, doc)
            except BaseException:
                if txn.marked:
                    self._recover_locked()
                raise
            if txn.dirty or txn.marked:
                self._finish_meta(meta)
        for fn in txn.after:
            fn()

    def _staged_name(self, what: str) -> Path:
        return self.layout.tmp / f"{what}.{os.getpid()}.{secrets.token_hex(8)}"

    def _trash(self, txn: _Txn, disk: Path) -> None:
        """Move `disk` out of the tree now; delete it after the lock is released."""
        dest = self._staged_name("trash")
        txn.mark()
        os.rename(disk, dest)
        if dest.is_dir():
            txn.after.append(lambda: fsutil.remove_tree(dest))
        else:
            txn.after.append(lambda: _unlink_quiet(dest))

    def _check_quota(self, txn: _Txn, quota: Quota | None, adding: int) -> None:
        if quota is None or adding <= 0:
            return
        used = int(txn.doc(DrivePath()).get("total_bytes", 0)) + quota.other_bytes
        if used + adding > quota.limit_bytes:
            raise QuotaExceeded(f"quota of {quota.limit_bytes} bytes exceeded")

    def _ensure_parents(self, txn: _Txn, d: DrivePath, *, create: bool) -> None:
        """Make sure directory `d` exists (creating missing ones when `create`)."""
        for i in range(1, d.depth + 1):
            parent = DrivePath(d.parts[: i - 1])
            name = d.parts[i - 1]
            rec = txn.doc(parent)["children"].get(name)
            if rec is None:
                if not create:
                    raise Conflict(f"parent directory {DrivePath(d.parts[:i])} does not exist")
                self._create_dir(txn, parent, name)
            elif rec.get("type") != DIR:
                raise Conflict(f"{DrivePath(d.parts[:i])} is a file, not a directory")

    def _check_unclaimed(self, path: DrivePath) -> None:
        """Refuse to write over something on disk that the index does not know (a planted
        symlink, a file copied in by hand): `repair()` decides what it is, never a write."""
        try:
            os.lstat(self.layout.dir_path(path.parts))
        except FileNotFoundError:
            return
        raise Conflict(f"{path} is in the way on disk but not in the drive's index")

    def _create_dir(self, txn: _Txn, parent: DrivePath, name: str,
                    props: Mapping[str, str] | None = None) -> None:
        self._check_unclaimed(parent.child(name))
        staged = self._staged_name("mkdir")
        staged.mkdir()
        fsutil.write_json(staged / DriveLayout.INDEX, _new_index(name, txn.now))
        txn.mark()
        os.rename(staged, self.layout.dir_path(parent.parts) / name)
        rec: dict[str, Any] = {"type": DIR, "mtime": txn.now, "created": txn.now}
        if props:
            rec["props"] = dict(props)
        txn.add_child(parent, name, rec)

    # -- writing ------------------------------------------------------------------------------
    def begin_upload(self, limit: int | None = None) -> Upload:
        """Stage a new file in tmp/ (no lock held while bytes arrive)."""
        self.open()
        return Upload(self._staged_name("upload"), limit)

    def upload_allowance(self, path: DrivePath, quota: Quota | None) -> int | None:
        """How many bytes a write to `path` may bring (None: no limit); a hint for streaming,
        re-checked under the lock at commit."""
        if quota is None:
            return None
        try:
            old = self.stat(path)
            reclaim = old.size if not old.is_dir else 0
        except (NotFound, Conflict):
            reclaim = 0
        return max(0, quota.limit_bytes - quota.other_bytes - self.usage_bytes() + reclaim)

    def check_write(self, path: DrivePath, *, if_match: Iterable[str] | None = None,
                    if_none_match: bool = False) -> Entry | None:
        """Preconditions of a write, checked early (before a body is read) and again at commit.
        `if_match`: etags one of which the existing file must have (`*`: any existing file)."""
        try:
            old: Entry | None = self.stat(path)
        except NotFound:
            old = None
        _preconditions(path, old, if_match, if_none_match)
        return old

    def commit_upload(self, upload: Upload, path: DrivePath, *, content_type: str | None = None,
                      make_parents: bool = True, if_match: Iterable[str] | None = None,
                      if_none_match: bool = False, quota: Quota | None = None,
                      may_create: bool = True, may_overwrite: bool = True) -> tuple[Entry, bool]:
        """Put the staged bytes at `path`; returns (entry, created). Always consumes `upload`."""
        if path.is_root:
            upload.abort()
            raise Conflict("cannot write the drive root")
        if_match = list(if_match) if if_match is not None else None
        try:
            upload._finish()
            with self._commit([path.parent]) as txn:
                try:
                    rec_old = txn.doc(path.parent)["children"].get(path.name) \
                        if self._parent_exists(txn, path.parent) else None
                except NotFound:
                    rec_old = None
                old = _entry(path, rec_old) if rec_old is not None else None
                _preconditions(path, old, if_match, if_none_match)
                if old is not None and old.is_dir:
                    raise Conflict(f"{path} is a directory")
                if old is None and not may_create:
                    raise WriteRefused(f"creating {path} is not allowed")
                if old is not None and not may_overwrite:
                    raise WriteRefused(f"overwriting {path} is not allowed")
                self._check_quota(txn, quota, upload.size - (old.size if old else 0))
                self._ensure_parents(txn, path.parent, create=make_parents)
                if old is None:
                    self._check_unclaimed(path)
                disk = self.layout.dir_path(path.parts)
                txn.mark()
                os.rename(upload.path, disk)
                upload._committed()
                st = os.stat(disk, follow_symlinks=False)
                rec: dict[str, Any] = {
                    "type": FILE, "size": upload.size, "etag": upload.etag, "mtime": st.st_mtime,
                    "created": old.created if old else st.st_mtime,
                    "content_type": guess_type(path.name, content_type)}
                if old is not None:
                    if old.props:
                        rec["props"] = dict(old.props)
                    txn.replace_file(path.parent, path.name, rec)
                else:
                    txn.add_child(path.parent, path.name, rec)
            return _entry(path, rec), old is None
        finally:
            upload.abort()

    def _parent_exists(self, txn: _Txn, d: DrivePath) -> bool:
        for i in range(1, d.depth + 1):
            rec = txn.doc(DrivePath(d.parts[: i - 1]))["children"].get(d.parts[i - 1])
            if rec is None or rec.get("type") != DIR:
                return False
        return True

    def put(self, path: DrivePath, source: Iterable[bytes] | IO[bytes] | bytes, *,
            quota: Quota | None = None, **kwargs: Any) -> tuple[Entry, bool]:
        """Stream `source` (bytes, an iterator of chunks or a binary file) into `path`."""
        self.check_write(path, if_match=kwargs.get("if_match"),
                         if_none_match=kwargs.get("if_none_match", False))
        upload = self.begin_upload(self.upload_allowance(path, quota))
        try:
            if isinstance(source, bytes | bytearray | memoryview):
                upload.write(source)
            else:
                upload.write_from(source)
        except BaseException:
            upload.abort()
            raise
        return self.commit_upload(upload, path, quota=quota, **kwargs)

    def mkdir(self, path: DrivePath, *, parents: bool = False, exist_ok: bool = False) -> Entry:
        """Create a directory. Without `parents`, a missing parent is a Conflict (WebDAV 409);
        an existing directory is AlreadyExists unless `exist_ok`; an existing file always is."""
        if path.is_root:
            if exist_ok:
                return self.stat(path)
            raise AlreadyExists("the drive root exists")
        with self._commit([path.parent]) as txn:
            self._ensure_parents(txn, path.parent, create=parents)
            rec = txn.doc(path.parent)["children"].get(path.name)
            if rec is not None:
                if rec.get("type") == DIR and exist_ok:
                    return _entry(path, rec)
                raise AlreadyExists(f"{path} exists")
            self._create_dir(txn, path.parent, path.name)
            rec = txn.doc(path.parent)["children"][path.name]
        return _entry(path, rec)

    def delete(self, path: DrivePath, *, if_match: Iterable[str] | None = None) -> Entry:
        """Delete a file or a whole directory tree (never the root)."""
        if path.is_root:
            raise Conflict("the drive root cannot be deleted")
        if_match = list(if_match) if if_match is not None else None
        with self._commit([path.parent]) as txn:
            if not self._parent_exists(txn, path.parent):
                raise NotFound(f"{path} not found")
            rec = txn.doc(path.parent)["children"].get(path.name)
            if rec is None:
                raise NotFound(f"{path} not found")
            entry = _entry(path, rec)
            _preconditions(path, entry, if_match, False)
            txn.remove_child(path.parent, path.name)
            self._trash(txn, self.layout.dir_path(path.parts))
        return entry

    def move(self, src: DrivePath, dst: DrivePath, *, overwrite: bool = True) -> bool:
        """Rename or relocate; returns True when `dst` did not exist before. The destination's
        parent must exist (Conflict). With `overwrite` an existing destination is replaced."""
        return self._transfer(src, dst, overwrite=overwrite, copy=False, quota=None)

    def copy(self, src: DrivePath, dst: DrivePath, *, overwrite: bool = True,
             recursive: bool = True, quota: Quota | None = None) -> bool:
        """Copy a file or a tree (`recursive=False`: a directory without its members, WebDAV
        `Depth: 0`); dead properties come along. Returns True when `dst` is new."""
        return self._transfer(src, dst, overwrite=overwrite, copy=True, quota=quota,
                              recursive=recursive)

    def _transfer(self, src: DrivePath, dst: DrivePath, *, overwrite: bool, copy: bool,
                  quota: Quota | None, recursive: bool = True) -> bool:
        if src.is_root or dst.is_root:
            raise Conflict("the drive root cannot be moved, copied or replaced")
        if dst == src:
            raise Conflict("source and destination are the same")
        if dst.is_within(src):
            raise Conflict("cannot move or copy a directory into itself")
        if src.is_within(dst):
            raise Conflict("cannot replace a directory with one of its own members")
        staged: Path | None = None
        built: tuple[dict[str, Any], tuple[int, int, int]] | None = None
        if copy:
            # Build the copy in tmp/ first, with no lock held: a big tree costs no one a wait.
            entry = self.stat(src)
            staged = self._staged_name("copy")
            built = self._build_copy(entry, staged, recursive=recursive, quota=quota)
        try:
            with self._commit([src.parent, dst.parent]) as txn:
                if not self._parent_exists(txn, src.parent):
                    raise NotFound(f"{src} not found")
                src_rec = txn.doc(src.parent)["children"].get(src.name)
                if src_rec is None:
                    raise NotFound(f"{src} not found")
                if not self._parent_exists(txn, dst.parent):
                    raise Conflict(f"parent of {dst} does not exist")
                dst_rec = txn.doc(dst.parent)["children"].get(dst.name)
                if dst_rec is not None and not overwrite:
                    raise PreconditionFailed(f"{dst} exists")
                if copy:
                    assert built is not None and staged is not None
                    adding = built[1][2] - (self._held(txn, dst, dst_rec)[2] if dst_rec else 0)
                    self._check_quota(txn, quota, adding)
                if dst_rec is not None:
                    txn.remove_child(dst.parent, dst.name)
                    self._trash(txn, self.layout.dir_path(dst.parts))
                else:
                    self._check_unclaimed(dst)
                target = self.layout.dir_path(dst.parts)
                if copy:
                    assert built is not None and staged is not None
                    rec, held = built
                    txn.mark()
                    os.rename(staged, target)
                    staged = None
                else:
                    rec, held = txn.remove_child(src.parent, src.name)
                    txn.mark()
                    os.rename(self.layout.dir_path(src.parts), target)
                    if rec["type"] == DIR:
                        self._rename_index(target, dst.name)
                if rec["type"] == FILE:
                    st = os.stat(target, follow_symlinks=False)
                    rec = dict(rec, mtime=st.st_mtime)
                    txn.add_child(dst.parent, dst.name, rec)
                else:
                    txn.add_child(dst.parent, dst.name, dict(rec),
                                  (held[0], held[1] - 1, held[2]))
                return dst_rec is None
        finally:
            if staged is not None:
                fsutil.remove_tree(staged) if staged.is_dir() else _unlink_quiet(staged)

    def _held(self, txn: _Txn, path: DrivePath, rec: Mapping[str, Any]) -> tuple[int, int, int]:
        if rec.get("type") == FILE:
            return (1, 0, int(rec.get("size", 0)))
        sub = _totals(txn.doc(path))
        return (sub[0], sub[1] + 1, sub[2])

    def _rename_index(self, disk: Path, name: str) -> None:
        path = disk / DriveLayout.INDEX
        try:
            doc = fsutil.read_json(path, version=INDEX_VERSION)
        except FileNotFoundError:
            return
        doc["name"] = name
        fsutil.write_json(path, doc)

    def _build_copy(self, entry: Entry, staged: Path, *, recursive: bool,
                    quota: Quota | None) -> tuple[dict[str, Any], tuple[int, int, int]]:
        """Copy `entry` to `staged` (outside the tree); returns its record and what it holds."""
        now = time.time()
        if not entry.is_dir:
            _, f = self.open_file(entry.path)
            with f:
                up = Upload(staged, None)
                try:
                    up.write_from(f)
                    up._finish()
                except BaseException:
                    up.abort()
                    raise
                up._committed()
            mtime = os.stat(staged, follow_symlinks=False).st_mtime
            rec: dict[str, Any] = {"type": FILE, "size": up.size, "etag": up.etag,
                                   "mtime": mtime, "created": mtime,
                                   "content_type": entry.content_type}
            if entry.props:
                rec["props"] = dict(entry.props)
            return rec, (1, 0, up.size)
        staged.mkdir()
        try:
            doc = _new_index(entry.name, now)
            totals = [0, 0, 0]
            if recursive:
                info = self.listdir(entry.path)
                for child in info.children:
                    crec, held = self._build_copy(child, staged / child.name, recursive=True,
                                                  quota=quota)
                    doc["children"][child.name] = crec
                    if child.is_dir:
                        doc["self_dirs"] += 1
                    else:
                        doc["self_files"] += 1
                        doc["self_bytes"] += held[2]
                    totals = [totals[i] + held[i] for i in range(3)]
                    if quota is not None and totals[2] + self.usage_bytes() + \
                            quota.other_bytes > quota.limit_bytes:
                        raise QuotaExceeded(f"quota of {quota.limit_bytes} bytes exceeded")
            doc.update(total_files=totals[0], total_dirs=totals[1], total_bytes=totals[2])
            fsutil.write_json(staged / DriveLayout.INDEX, doc)
        except BaseException:
            fsutil.remove_tree(staged)
            raise
        rec = {"type": DIR, "mtime": now, "created": now}
        if entry.props:
            rec["props"] = dict(entry.props)
        return rec, (totals[0], totals[1] + 1, totals[2])

    def set_props(self, path: DrivePath, set_props: Mapping[str, str],
                  remove: Iterable[str] = ()) -> Entry:
        """Store (or remove) dead properties: clark name `{ns}local` -> the property's XML."""
        remove = list(remove)
        with self._commit([]) as txn:
            if path.is_root:
                holder = txn.doc(path)
                rec = holder
            else:
                if not self._parent_exists(txn, path.parent):
                    raise NotFound(f"{path} not found")
                rec = txn.doc(path.parent)["children"].get(path.name)
                if rec is None:
                    raise NotFound(f"{path} not found")
            props = dict(rec.get("props") or {})
            for name in remove:
                props.pop(name, None)
            props.update(set_props)
            if props:
                rec["props"] = props
            else:
                rec.pop("props", None)
            txn.dirty.add(path if path.is_root else path.parent)
        return self.stat(path)


def _preconditions(path: DrivePath, old: Entry | None, if_match: Iterable[str] | None,
                   if_none_match: bool) -> None:
    if if_none_match and old is not None:
        raise PreconditionFailed(f"{path} exists")
    if if_match is not None:
        tags = list(if_match)
        if old is None or old.is_dir:
            raise PreconditionFailed(f"{path} does not exist")
        if "*" not in tags and old.etag not in tags:
            raise PreconditionFailed(f"{path} has changed")


def _hash_file(path: Path) -> str:
    sha = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
    return etag_of_digest(sha.hexdigest())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unlink_quiet(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)

