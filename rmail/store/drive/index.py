"""The directory index of one drive: one `_index.json` per directory, `_meta.json` beside the
tree, the cache of parsed indexes, and the commit protocol every write goes through.

`DriveIndex` is owned by its `UserDrive`; nothing else reads or writes index files.

- Reading never locks: index files change only by atomic rename. Parsed indexes are cached
  per process and revalidated with one `stat` (inode, mtime, size).
- `commit()` holds the drive lock (`files/_index.lock`) and yields a `Txn` that reads the
  indexes it needs from disk, changes records and counters in memory, and writes the changed
  ones deepest first. Totals propagate to the root, so every commit rewrites the root index.
- Crash safety: before anything on disk changes, `Txn.mark()` writes `"pending"` (the
  directories whose membership changes) into `_meta.json`; the commit ends by rewriting it
  without. Whoever next takes the lock and finds `"pending"` rebuilds those directories from
  disk and recounts up to the root (`recover_locked`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, overload

import orjson

from rmail.store import fsutil
from rmail.store.drive.entries import (
    COUNTERS,
    DIR,
    FILE,
    DirInfo,
    Entry,
    entry_of,
    etag_of_digest,
    guess_type,
    sort_key,
)
from rmail.store.drive.paths import ROOT, DrivePath, check_name
from rmail.store.drive.upload import CHUNK
from rmail.store.errors import AlreadyExists, Conflict, CorruptStore, NotFound, UnsafeName
from rmail.store.layout import DriveLayout

__all__ = ["INDEX_VERSION", "META_VERSION", "DriveIndex", "Txn", "new_index", "totals_of"]

INDEX_VERSION = 1
META_VERSION = 1
_CACHE_SIZE = 512


def new_index(name: str, now: float) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": INDEX_VERSION, "name": name, "ctag": 0, "mtime": now,
                           "created": now, "children": {}}
    for c in COUNTERS:
        doc[c] = 0
    return doc


def totals_of(doc: Mapping[str, Any]) -> tuple[int, int, int]:
    return (int(doc.get("total_files", 0)), int(doc.get("total_dirs", 0)),
            int(doc.get("total_bytes", 0)))


class Txn:
    """The index documents one commit reads and rewrites, all under the drive lock."""

    def __init__(self, index: DriveIndex, now: float) -> None:
        self.index = index
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
            doc = self.index.read(d, cached=False)
            self.docs[d] = doc
        return doc

    def record(self, path: DrivePath) -> dict[str, Any] | None:
        """The child record of `path` in its parent (the root's own index for the root), or
        None when `path` or one of its parents is missing (or a parent is a file)."""
        if path.is_root:
            return self.doc(path)
        if not self.dir_exists(path.parent):
            return None
        rec: dict[str, Any] | None = self.doc(path.parent)["children"].get(path.name)
        return rec

    def entry(self, path: DrivePath) -> Entry | None:
        if path.is_root:
            doc = self.doc(path)
            return Entry(path, DIR, float(doc.get("mtime", 0.0)),
                         float(doc.get("created", doc.get("mtime", 0.0))),
                         props=dict(doc.get("props") or {}))
        rec = self.record(path)
        return None if rec is None else entry_of(path, rec)

    def dir_exists(self, d: DrivePath) -> bool:
        for i in range(1, d.depth + 1):
            rec = self.doc(DrivePath(d.parts[: i - 1]))["children"].get(d.parts[i - 1])
            if rec is None or rec.get("type") != DIR:
                return False
        return True

    def usage(self) -> int:
        return int(self.doc(DrivePath()).get("total_bytes", 0))

    def touch(self, d: DrivePath) -> None:
        """`d`'s membership changed: bump its mtime and its entry's mtime in its parent."""
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
            sub = totals_of(self.doc(child))
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

    def held(self, path: DrivePath, rec: Mapping[str, Any]) -> tuple[int, int, int]:
        """(files, dirs, bytes) that `path` (described by `rec`) holds, itself included."""
        if rec.get("type") == FILE:
            return (1, 0, int(rec.get("size", 0)))
        sub = totals_of(self.doc(path))
        return (sub[0], sub[1] + 1, sub[2])


class DriveIndex:
    """Reads, caches and commits one drive's directory indexes and `_meta.json`."""

    def __init__(self, layout: DriveLayout) -> None:
        self.layout = layout
        self.files_dir = str(layout.files)  # hot paths join strings, not Paths
        self.commits = 0  # this process's commits to this drive (see `invalidate`)
        # Called with the drive's new ctag after each commit, once the lock is released
        # (`DriveStore` publishes it on the change bus).
        self.on_commit: Callable[[int], None] | None = None
        self._cache: OrderedDict[DrivePath, tuple[tuple[int, int, int], dict[str, Any]]] = \
            OrderedDict()
        self._cache_lock = threading.Lock()
        self._orders: dict[DrivePath, tuple[dict[str, Any], list[str]]] = {}

    # -- files on disk ------------------------------------------------------------------------
    def disk(self, path: DrivePath) -> Path:
        return self.layout.dir_path(path.parts)

    def index_file(self, d: DrivePath) -> str:
        return os.path.join(self.files_dir, *d.parts, DriveLayout.INDEX)

    def is_real_dir(self, d: DrivePath) -> bool:
        """Each component below files/ is a directory, not a symlink to one."""
        p = self.files_dir
        for part in d.parts:
            p = os.path.join(p, part)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                return False
            if not stat.S_ISDIR(st.st_mode):
                return False
        return True

    def create(self) -> None:
        """Make the root index and `_meta.json` of a new drive (idempotent)."""
        lay = self.layout
        if (lay.files / DriveLayout.INDEX).exists() and lay.meta.exists():
            return
        fsutil.ensure_dir(lay.files)
        with fsutil.locked(lay.lock):
            if not (lay.files / DriveLayout.INDEX).exists():
                fsutil.write_json(lay.files / DriveLayout.INDEX, new_index("", time.time()))
            if not lay.meta.exists():
                self.write_meta(self.new_meta(), pending=[])

    # -- reading ------------------------------------------------------------------------------
    @overload
    def read(self, d: DrivePath, *, cached: bool = True,
             memory_only: Literal[False] = False) -> dict[str, Any]: ...

    @overload
    def read(self, d: DrivePath, *, cached: bool = True,
             memory_only: bool) -> dict[str, Any] | None: ...

    def read(self, d: DrivePath, *, cached: bool = True,
             memory_only: bool = False) -> dict[str, Any] | None:
        """A directory's parsed `_index.json`, reused while the file is unchanged. With
        `memory_only`, None instead of reading and parsing the file (see `peek`)."""
        if not self.is_real_dir(d):
            raise NotFound(f"{d or '/'} not found")
        path = self.index_file(d)
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
                if len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return doc

    def invalidate(self) -> None:
        """After our own commit. The caches are keyed by a file's (inode, mtime, size), and
        ext4 hands a just-freed inode to the next new file with an mtime from a coarse clock,
        so two quick same-size rewrites can look identical: forget what this drive cached.
        (A commit reads its indexes from disk under the lock for the same reason.)"""
        with self._cache_lock:
            self._cache.clear()
            self._orders.clear()
            self.commits += 1

    def stat(self, path: DrivePath) -> Entry:
        """The entry at `path` (the root included); NotFound when missing."""
        if path.is_root:
            doc = self.read(path)
            return Entry(path, DIR, float(doc.get("mtime", 0.0)),
                         float(doc.get("created", doc.get("mtime", 0.0))),
                         props=dict(doc.get("props") or {}))
        try:
            doc = self.read(path.parent)
        except NotFound:
            raise NotFound(f"{path} not found") from None
        rec = doc["children"].get(path.name)
        if rec is None:
            raise NotFound(f"{path} not found")
        return entry_of(path, rec)

    def peek(self, path: DrivePath) -> Entry | None:
        """`stat` when it can be answered without reading an index (its parent's parsed index
        is in memory and its file unchanged): a few `lstat`s, cheap enough for an event loop.
        None means "ask `stat` in a worker thread"; NotFound is raised as `stat` would."""
        if path.is_root:
            return None
        try:
            doc = self.read(path.parent, memory_only=True)
        except NotFound:
            raise NotFound(f"{path} not found") from None
        if doc is None:
            return None
        rec = doc["children"].get(path.name)
        if rec is None:
            raise NotFound(f"{path} not found")
        return entry_of(path, rec)

    def counters(self, path: DrivePath = ROOT) -> dict[str, int]:
        doc = self.read(path)
        return {k: int(doc.get(k, 0)) for k in COUNTERS}

    def listdir(self, path: DrivePath, *, offset: int = 0,
                limit: int | None = None) -> DirInfo:
        """A directory's entry, counters and children (directories first, then by name);
        `offset`/`limit` pick a page of the children, and only that page is turned into
        entries (a 10,000-entry directory is sorted by name, not materialised)."""
        entry = self.stat(path)
        if not entry.is_dir:
            raise Conflict(f"{path} is not a directory")
        doc = self.read(path)
        kids: dict[str, Any] = doc["children"]
        if offset or limit is not None:
            order = self._order(path, doc)
            page = order[offset:None if limit is None else offset + limit]
            children = tuple(entry_of(_child(path, n), kids[n]) for n in page)
        else:
            children = tuple(sorted((entry_of(_child(path, n), rec) for n, rec in
                                     kids.items()), key=sort_key))
        return DirInfo(entry, int(doc.get("ctag", 0)), {k: int(doc.get(k, 0)) for k in COUNTERS},
                       children)

    def _order(self, path: DrivePath, doc: dict[str, Any]) -> list[str]:
        """The children's names in listing order, kept while `doc` is the cached parse (the
        same object until its file changes): paging through a big folder sorts it once."""
        with self._cache_lock:
            hit = self._orders.get(path)
            if hit is not None and hit[0] is doc:
                return hit[1]
        kids: dict[str, Any] = doc["children"]
        order = sorted(kids, key=lambda n: (kids[n].get("type") != DIR, n))
        with self._cache_lock:
            self._orders[path] = (doc, order)
            if len(self._orders) > 16:
                self._orders.pop(next(iter(self._orders)))
        return order

    def usage_bytes(self) -> int:
        """Bytes stored in this drive: O(1), from the root index."""
        try:
            return int(self.read(DrivePath()).get("total_bytes", 0))
        except NotFound:
            return 0

    # -- _meta.json ---------------------------------------------------------------------------
    def new_meta(self) -> dict[str, Any]:
        return {"version": META_VERSION, "ctag": 0, "sync_token": "drive-0",
                "total_files": 0, "total_dirs": 0, "total_bytes": 0, "pending": []}

    def meta(self) -> dict[str, Any]:
        """`_meta.json`: ctag, sync_token and the drive's totals."""
        try:
            doc = fsutil.read_json(self.layout.meta, version=META_VERSION)
        except FileNotFoundError:
            return self.new_meta()
        if not isinstance(doc, dict):
            raise CorruptStore(f"{self.layout.meta}: not an object")
        return doc

    def write_meta(self, doc: dict[str, Any], *, pending: list[str]) -> None:
        doc = dict(doc)
        doc["pending"] = pending
        fsutil.write_json(self.layout.meta, doc)

    def finish_meta(self, meta: dict[str, Any]) -> None:
        root = self.read(DrivePath(), cached=False)
        ctag = int(meta.get("ctag", 0)) + 1
        meta.update(ctag=ctag, sync_token=f"drive-{ctag}")
        for c in ("files", "dirs", "bytes"):
            meta[f"total_{c}"] = int(root.get(f"total_{c}", 0))
        self.write_meta(meta, pending=[])
        self.invalidate()

    # -- the commit protocol ------------------------------------------------------------------
    @contextlib.contextmanager
    def commit(self, pending: Iterable[DrivePath]) -> Iterator[Txn]:
        """Hold the drive lock; the caller calls `txn.mark()` before it changes anything on
        disk, changes files and records; then the changed indexes are written deepest first
        and `_meta.json` is rewritten without the mark. A failure after the mark lets recovery
        make the indexes match the disk. `txn.after` runs once the lock is released."""
        with fsutil.locked(self.layout.lock):
            meta = self.meta()
            if meta.get("pending"):
                self.recover_locked()
                meta = self.meta()
            txn = Txn(self, time.time())
            marks = sorted({str(p) for p in pending})
            txn._mark = lambda: self.write_meta(meta, pending=marks)
            try:
                yield txn
                for d in sorted(txn.dirty, key=lambda p: -p.depth):
                    doc = txn.docs[d]
                    doc["ctag"] = int(doc.get("ctag", 0)) + 1
                    fsutil.write_json(self.disk(d) / DriveLayout.INDEX, doc)
            except BaseException:
                if txn.marked:
                    self.recover_locked()
                raise
            committed = bool(txn.dirty or txn.marked)
            if committed:
                self.finish_meta(meta)
        for fn in txn.after:
            fn()
        if committed and self.on_commit is not None:
            self.on_commit(int(meta.get("ctag", 0)))

    # -- recovery -----------------------------------------------------------------------------
    def recover_locked(self) -> None:
        """Rebuild the directories a dead writer was changing, then totals up to the root."""
        meta = self.meta()
        dirs: set[DrivePath] = set()
        for text in meta.get("pending") or []:
            try:
                d = DrivePath.parse(text)
            except UnsafeName:
                continue
            # the deepest existing directory on the way (the pending one may have vanished)
            while not d.is_root and not self.is_real_dir(d):
                d = d.parent
            dirs.add(d)
        for d in sorted(dirs, key=lambda p: -p.depth):
            self.rebuild_dir(d, recursive=False)
        ancestors = {a for d in dirs for a in d.ancestors()[1:]}
        for a in sorted(ancestors, key=lambda p: -p.depth):
            self.recount(a)
        self.finish_meta(meta)

    def repair(self) -> None:
        """Rebuild every index from the files on disk (for `rmail check`, or after an
        administrator copied files into the tree by hand)."""
        with fsutil.locked(self.layout.lock):
            self.rebuild_dir(DrivePath(), recursive=True)
            self.finish_meta(self.meta())

    def rebuild_dir(self, d: DrivePath, *, recursive: bool) -> tuple[int, int, int]:
        """Rewrite `d`'s index from what is on disk; returns its totals."""
        try:
            old = self.read(d, cached=False)
        except (NotFound, CorruptStore):
            old = new_index(d.name, time.time())
        base = self.disk(d)
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
                    sub = self.rebuild_dir(child, recursive=recursive)
                else:
                    sub = totals_of(self.read(child, cached=False))
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
                    rec = {"type": FILE, "size": st.st_size, "etag": hash_file(base / de.name),
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

    def recount(self, d: DrivePath) -> None:
        """Recompute `d`'s totals from its own counters and its child directories' totals."""
        doc = self.read(d, cached=False)
        totals = [int(doc.get("self_files", 0)), int(doc.get("self_dirs", 0)),
                  int(doc.get("self_bytes", 0))]
        for name, rec in doc["children"].items():
            if rec.get("type") == DIR:
                try:
                    sub = totals_of(self.read(d.child(name), cached=False))
                except (NotFound, CorruptStore):
                    sub = self.rebuild_dir(d.child(name), recursive=True)
                totals[0] += sub[0]
                totals[1] += sub[1]
                totals[2] += sub[2]
        doc.update(total_files=totals[0], total_dirs=totals[1], total_bytes=totals[2])
        fsutil.write_json(self.disk(d) / DriveLayout.INDEX, doc)


def _child(parent: DrivePath, name: str) -> DrivePath:
    """A child path from a name found in an index: through the name gate (an index may have
    been edited by hand), without filling the validated-path cache with a whole listing."""
    return DrivePath((*parent.parts, check_name(name)))


def hash_file(path: Path) -> str:
    sha = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
    return etag_of_digest(sha.hexdigest())
