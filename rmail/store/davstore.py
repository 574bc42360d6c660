"""Collections of small text objects (calendars of `.ics`, address books of `.vcf`) over plain
files: the engine under `rmail.store.calendars` and `rmail.store.contacts`.

One collection is a directory (see `rmail.store.layout`): a metadata document (`calendar.json`
or `addressbook.json`), `index.json` and the objects themselves. `index.json` holds:

```
{"version": 2, "ctag": 7, "sync_token": "urn:rmail:sync:<base>:7", "base": "<random>",
 "oldest": 0,
 "objects": {"<name>": {"uid", "etag", "size", "seq", "mtime", ...metadata}, ...},
 "tombstones": {"<name>": <seq>, ...},
 "uids": {"<UID>": "<name>", ...}}
```

`uids` maps each iCalendar/vCard UID to the resource that holds it: CalDAV clients name
resources as they like, while the webmail and iMIP address events by UID, and RFC 4791
§5.3.2.1 / RFC 6352 §6.3.2.1 (`no-uid-conflict`) forbid a second resource with the same UID in
one collection. It is kept up to date by every put/remove (journal replay included), so a
lookup costs one dict access; a version-1 index (no `uids`) or one whose map does not cover its
objects has the map rebuilt from the entries when read, and the next compaction writes it.

`index.json` is a snapshot; `index.journal` beside it holds one JSON line per change since the
snapshot (`{"c": position, "p": name, "e": entry}`, `{"c": position, "d": name}` for a removal,
`{"c": position, "m": 1}` for a property change), appended and fsynced under the lock, so a PUT
costs the same in a calendar of 10 or 100,000 events. Readers replay it on top of the snapshot
(only the new tail when they have the index cached); a torn last line is ignored. When the
journal grows past a quarter of the snapshot the writer folds it in: new snapshot by atomic
rename, then the journal is emptied (a line whose position the snapshot already has is skipped,
so a crash between the two steps is harmless).

`ctag` is the collection's change counter: every write takes the next value and stamps it on the
object (`seq`) or the tombstone it leaves. Both maps are kept in `seq` order (a changed entry
moves to the end), so "what changed since position N" walks backwards from the end and stops at
N: a sync costs O(changes), not O(collection). The sync token is `base` + position; `base` is
random per collection instance, so a token from a deleted-and-recreated collection (or from
another collection) is refused, as is one older than `oldest` (tombstones are pruned past
`MAX_TOMBSTONES`).

Lock rules (STYLE.md #7):
- `index.lock` (per collection) serialises every writer of that collection's `index.json`, its
  metadata document and its object files. Writers re-read the index under the lock.
- `.home.lock` (per user and kind) serialises creating and deleting collections. Taken before a
  collection lock, never after one. MOVE between two collections takes both collection locks in
  path order.
- Readers never lock: every file changes by atomic rename. A parsed index is cached per process
  and revalidated with one `stat` (inode, mtime, size) per read.
- Write order: object file, then the journal line (a crash leaves at worst an unindexed file
  that the next PUT of that name replaces); delete: journal line, then unlink.
- All methods are synchronous and block on fsync: call them from a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmail.store import fsutil
from rmail.store.errors import (
    AlreadyExists,
    Conflict,
    CorruptStore,
    NotFound,
    PreconditionFailed,
    StoreError,
    UnsafeName,
)
from rmail.store.events import Change, EventBus
from rmail.store.layout import CollectionLayout

INDEX_VERSION = 2
META_VERSION = 1
MAX_TOMBSTONES = 10_000
TOKEN_PREFIX = "urn:rmail:sync:"
HOME_LOCK = ".home.lock"


class InvalidSyncToken(StoreError):
    """RFC 6578 §3.2: the token is not one this collection issued, or it is too old."""


class UidConflict(Conflict):
    """RFC 4791 §5.3.2.1 no-uid-conflict: another resource of the collection has this UID."""

    def __init__(self, message: str, existing: str) -> None:
        super().__init__(message)
        self.existing = existing


def etag_of(data: bytes) -> str:
    """SHA-256 of the content, 32 hex characters (the reference manual), quoted for HTTP."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def check_name(name: str, what: str = "name") -> str:
    """The gate for collection and object names: `fsutil.check_component`, and nothing that
    starts with '.' (reserved for lock files and temporaries)."""
    fsutil.check_component(name, what=what, reserved_prefix=".")
    if name.endswith(".lock"):
        raise UnsafeName(f"{what} {name!r} uses the reserved suffix .lock")
    return name


@dataclass
class Index:
    ctag: int = 0
    base: str = ""
    oldest: int = 0
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)
    uids: dict[str, str] = field(default_factory=dict)   # UID -> resource name
    pending: list[dict[str, Any]] = field(default_factory=list)  # journal lines to write

    # Mutations (writers, on a copy, under the collection lock); each records its journal line.
    def set_entry(self, name: str, entry: dict[str, Any]) -> None:
        """Store `entry` (stamped with the next position) for `name`."""
        self.ctag += 1
        entry["seq"] = self.ctag
        self._apply_put(name, entry)
        self.pending.append({"c": self.ctag, "p": name, "e": entry})

    def remove(self, name: str) -> None:
        self.ctag += 1
        self._apply_remove(name, self.ctag)
        self.pending.append({"c": self.ctag, "d": name})

    def bump(self) -> None:
        self.ctag += 1
        self.pending.append({"c": self.ctag, "m": 1})

    def _forget_uid(self, name: str) -> None:
        old = self.objects.pop(name, None)
        if old is not None:
            uid = str(old.get("uid", ""))
            if self.uids.get(uid) == name:
                del self.uids[uid]

    def _apply_put(self, name: str, entry: dict[str, Any]) -> None:
        self._forget_uid(name)
        self.objects[name] = entry
        self.uids[str(entry.get("uid", ""))] = name
        self.tombstones.pop(name, None)

    def _apply_remove(self, name: str, position: int) -> None:
        self._forget_uid(name)
        self.tombstones.pop(name, None)
        self.tombstones[name] = position

    def replay(self, line: dict[str, Any]) -> None:
        """Apply one journal line (lines the snapshot already holds are skipped)."""
        if "b" in line:  # a batch (put_many): all of it or, torn, none of it
            for sub in line["b"]:
                self.replay(sub)
            return
        position = int(line["c"])
        if position <= self.ctag:
            return
        if "p" in line:
            self._apply_put(str(line["p"]), dict(line["e"]))
        elif "d" in line:
            self._apply_remove(str(line["d"]), position)
        self.ctag = position

    def prune(self) -> None:
        """Keep at most MAX_TOMBSTONES; tokens older than the pruned ones become invalid."""
        if len(self.tombstones) > MAX_TOMBSTONES:
            drop = list(self.tombstones)[: len(self.tombstones) - MAX_TOMBSTONES // 2]
            self.oldest = max(self.tombstones[n] for n in drop)
            for n in drop:
                del self.tombstones[n]

    @property
    def sync_token(self) -> str:
        return f"{TOKEN_PREFIX}{self.base}:{self.ctag}"

    def uid_owner(self, uid: str) -> str | None:
        """The resource holding `uid`, if any (one dict lookup)."""
        return self.uids.get(uid)

    def to_doc(self) -> dict[str, Any]:
        return {"version": INDEX_VERSION, "ctag": self.ctag, "sync_token": self.sync_token,
                "base": self.base, "oldest": self.oldest, "objects": self.objects,
                "tombstones": self.tombstones, "uids": self.uids}

    @staticmethod
    def build_uids(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
        return {str(e.get("uid", "")): n for n, e in objects.items()}

    @classmethod
    def from_doc(cls, doc: Any, path: Path) -> Index:
        try:
            objects = dict(doc["objects"])
            uids = doc.get("uids")
            if not isinstance(uids, dict) or len(uids) != len(objects):
                uids = cls.build_uids(objects)  # version 1, or a map that lost track
            return cls(int(doc["ctag"]), str(doc["base"]), int(doc.get("oldest", 0)),
                       objects, dict(doc.get("tombstones", {})), dict(uids))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CorruptStore(f"{path}: not a collection index ({exc})") from exc

    def copy(self) -> Index:
        return Index(self.ctag, self.base, self.oldest, dict(self.objects),
                     dict(self.tombstones), dict(self.uids))


JOURNAL_NAME = "index.journal"
COMPACT_MIN_LINES = 256


@dataclass(frozen=True)
class Changes:
    """The answer to "what changed since token T": names changed (present) and removed."""

    token: str
    changed: list[str]
    removed: list[str]
    truncated: bool = False     # `limit` cut the answer: `token` covers only what is listed


def _dump(data: Any) -> bytes:
    import json

    # Not fsutil.dump_json: key order is the change order here, it must survive a round trip.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class _Cached:
    stamp: tuple[int, int, int]     # the snapshot's (inode, mtime, size)
    offset: int                     # bytes of the journal replayed (up to a newline)
    lines: int                      # journal lines replayed
    index: Index


def _stamp(path: Path) -> tuple[int, int, int]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NotFound("collection not found") from None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _read_tail(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Complete journal lines from `offset`; returns (lines, offset after the last newline).
    A torn last line (a crash mid-append) is left unread."""
    import json

    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1
    out: list[dict[str, Any]] = []
    for raw in data[:end].splitlines():
        if not raw.strip():
            continue
        try:
            out.append(json.loads(raw))
        except ValueError:
            break  # garbage inside the journal: stop at the last good line
    return out, offset + end


def _weight(lines: list[dict[str, Any]]) -> int:
    """Changes in journal lines (a batch line counts each of its changes)."""
    return sum(len(line["b"]) if "b" in line else 1 for line in lines)


class _IndexCache:
    """Parsed indexes of this process (snapshot + replayed journal), revalidated with two
    `stat`s and caught up by reading only the journal's new tail; bounded LRU."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.items: OrderedDict[str, _Cached] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, layout: CollectionLayout) -> _Cached:
        key = str(layout.index_file)
        stamp = _stamp(layout.index_file)
        journal = layout.dir / JOURNAL_NAME
        try:
            jsize = os.stat(journal).st_size
        except FileNotFoundError:
            jsize = 0
        with self.lock:
            hit = self.items.get(key)
            if hit is not None and hit.stamp == stamp and hit.offset == jsize:
                self.items.move_to_end(key)
                return hit
        if hit is not None and hit.stamp == stamp and jsize > hit.offset:
            lines, offset = _read_tail(journal, hit.offset)
            if offset == hit.offset:
                return hit  # only a torn tail beyond what we have
            index = hit.index.copy()
            for line in lines:
                index.replay(line)
            cached = _Cached(stamp, offset, hit.lines + _weight(lines), index)
        else:
            doc = fsutil.read_json(layout.index_file, version=INDEX_VERSION)
            index = Index.from_doc(doc, layout.index_file)
            lines, offset = _read_tail(journal, 0)
            for line in lines:
                index.replay(line)
            cached = _Cached(stamp, offset, _weight(lines), index)
        self.put(key, cached)
        return cached

    def put(self, key: str, cached: _Cached) -> None:
        with self.lock:
            self.items[key] = cached
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_CACHE = _IndexCache()


@dataclass(frozen=True)
class Kind:
    """What distinguishes calendars from address books on disk."""

    meta_name: str          # calendar.json / addressbook.json
    objects_name: str       # events / cards
    label: str              # "calendar" / "address book" (for messages)


class Collection:
    """One calendar or address book."""

    def __init__(self, home: Home, name: str) -> None:
        self.home = home
        self.name = name
        self.layout = CollectionLayout(home.dir / name, home.kind.meta_name,
                                       home.kind.objects_name)

    # -- reading (lock-free) ---------------------------------------------------------------------
    def exists(self) -> bool:
        return self.layout.index_file.is_file()

    @property
    def journal_file(self) -> Path:
        return self.layout.dir / JOURNAL_NAME

    def index(self) -> Index:
        return _CACHE.get(self.layout).index

    def meta(self) -> dict[str, Any]:
        try:
            doc = fsutil.read_json(self.layout.meta_file, version=META_VERSION)
        except FileNotFoundError:
            raise NotFound(f"{self.home.kind.label} {self.name!r} not found") from None
        return doc if isinstance(doc, dict) else {}

    def entry(self, name: str) -> dict[str, Any]:
        entry = self.index().objects.get(name)
        if entry is None:
            raise NotFound(f"{name!r} not found")
        return entry

    def read(self, name: str) -> bytes:
        self.entry(name)
        try:
            return self.layout.object_path(name).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{name!r} not found") from None

    def read_many(self, names: list[str]) -> Iterator[tuple[str, dict[str, Any], bytes]]:
        index = self.index()
        for name in names:
            entry = index.objects.get(name)
            if entry is None:
                continue
            try:
                data = self.layout.object_path(name).read_bytes()
            except FileNotFoundError:
                continue
            yield name, entry, data

    def changes_since(self, token: str | None, limit: int | None = None) -> Changes:
        """RFC 6578: members changed and removed since `token` (None or "": initial sync).
        With `limit`, the oldest `limit` changes and a token for exactly that point
        (RFC 6578 §3.6: the client asks again with it for the rest)."""
        index = self.index()
        position = self._parse_token(token, index) if token else 0
        if not token and limit is None:
            return Changes(index.sync_token, list(index.objects), [])
        changed: list[str] = []
        for name in reversed(index.objects):
            if index.objects[name].get("seq", 0) <= position:
                break
            changed.append(name)
        removed: list[str] = []
        for name in reversed(index.tombstones if token else {}):
            if index.tombstones[name] <= position:
                break
            removed.append(name)
        changed.reverse()
        removed.reverse()
        if limit is not None and len(changed) + len(removed) > limit:
            merged = sorted([(index.objects[n].get("seq", 0), n, True) for n in changed]
                            + [(index.tombstones[n], n, False) for n in removed])[:limit]
            last = merged[-1][0] if merged else position
            return Changes(f"{TOKEN_PREFIX}{index.base}:{last}",
                           [n for _, n, live in merged if live],
                           [n for _, n, live in merged if not live], truncated=True)
        return Changes(index.sync_token, changed, removed)

    @staticmethod
    def _parse_token(token: str, index: Index) -> int:
        if not token.startswith(TOKEN_PREFIX):
            raise InvalidSyncToken("unknown sync token")
        base, _, pos = token[len(TOKEN_PREFIX):].rpartition(":")
        if base != index.base or not pos.isdigit() or str(int(pos)) != pos:
            raise InvalidSyncToken("sync token of another collection")
        position = int(pos)
        if position > index.ctag or position < index.oldest:
            raise InvalidSyncToken("sync token is too old or from the future")
        return position

    # -- writing -----------------------------------------------------------------------------
    def _write_index(self, index: Index) -> None:
        """Make `index.pending` durable: one journal append (one fsync), or a compaction."""
        lines, index.pending = index.pending, []
        if not lines:
            return
        cached = _CACHE.get(self.layout)
        journal = self.journal_file
        count = _weight(lines)
        if cached.lines + count > max(COMPACT_MIN_LINES, len(index.objects) // 4):
            index.prune()
            fsutil.atomic_write(self.layout.index_file, _dump(index.to_doc()))
            with open(journal, "r+b") if journal.exists() else open(journal, "wb") as f:
                f.truncate(0)
                os.fdatasync(f.fileno())
            _CACHE.put(str(self.layout.index_file),
                       _Cached(_stamp(self.layout.index_file), 0, 0, index))
            self.home.changed(self.name, index.ctag)
            return
        size = journal.stat().st_size if journal.exists() else -1
        if size > cached.offset:  # a torn line from a crash: cut it before appending
            os.truncate(journal, cached.offset)
        data = b"".join(_dump(line) + b"\n" for line in lines)
        end = fsutil.append_durable(journal, data)
        if size < 0:
            fsutil.fsync_dir(self.layout.dir)
        _CACHE.put(str(self.layout.index_file),
                   _Cached(cached.stamp, end, cached.lines + count, index))
        self.home.changed(self.name, index.ctag)

    def _locked_index(self) -> Index:
        """The current index, re-read under the lock (copy: the cached one stays intact)."""
        if not self.exists():
            raise NotFound(f"{self.home.kind.label} {self.name!r} not found")
        return self.index().copy()

    @staticmethod
    def _check_preconditions(entry: dict[str, Any] | None, if_match: str | None,
                             if_none_match: str | None) -> None:
        if if_none_match is not None:
            tags = [t.strip() for t in if_none_match.split(",")]
            if entry is not None and ("*" in tags or entry["etag"] in tags):
                raise PreconditionFailed("the resource exists (If-None-Match)")
        if if_match is not None:
            tags = [t.strip() for t in if_match.split(",")]
            if entry is None or ("*" not in tags and entry["etag"] not in tags):
                raise PreconditionFailed("the resource changed (If-Match)")

    def put(self, name: str, data: bytes, meta: dict[str, Any], *, if_match: str | None = None,
            if_none_match: str | None = None) -> tuple[str, bool]:
        """Create or replace object `name`; returns (etag, created). `meta` must hold "uid"."""
        check_name(name, "resource name")
        uid = str(meta.get("uid", ""))
        with fsutil.locked(self.layout.lock):
            index = self._locked_index()
            old = index.objects.get(name)
            self._check_preconditions(old, if_match, if_none_match)
            owner = index.uid_owner(uid)
            if owner is not None and owner != name:
                raise UidConflict(f"UID {uid!r} is already used by {owner!r}", owner)
            if old is not None and old.get("uid") not in (None, uid):
                raise Conflict("the UID of an existing resource cannot change")
            etag = etag_of(data)
            fsutil.ensure_dir(self.layout.objects_dir)
            fsutil.atomic_write(self.layout.object_path(name), data)
            entry = dict(meta)
            entry.update(etag=etag, size=len(data), mtime=int(time.time()))
            index.set_entry(name, entry)
            self._write_index(index)
        return etag, old is None

    def delete(self, name: str, *, if_match: str | None = None) -> dict[str, Any]:
        with fsutil.locked(self.layout.lock):
            index = self._locked_index()
            old = index.objects.get(name)
            if old is None:
                raise NotFound(f"{name!r} not found")
            self._check_preconditions(old, if_match, None)
            self._remove_locked(index, name)
            self._write_index(index)
        try:
            os.unlink(self.layout.object_path(name))
        except FileNotFoundError:
            pass
        return old

    def _remove_locked(self, index: Index, name: str) -> None:
        index.remove(name)

    def put_many(self, items: list[tuple[str, bytes, dict[str, Any]]]
                 ) -> list[tuple[str, str, bool]]:
        """All or nothing: store every `(name, data, meta)`; an item whose UID the collection
        already holds replaces that resource (whatever `name` says). Every check (names, one
        item per UID, no UID held by another resource) passes before anything is written, and
        the index changes in one journal line, so a crash leaves all of it or none of it
        indexed. Returns (name, etag, created) per item."""
        for name, _, _ in items:
            check_name(name, "resource name")
        with fsutil.locked(self.layout.lock):
            index = self._locked_index()
            plan: list[tuple[str, bytes, dict[str, Any], bool]] = []
            names: set[str] = set()
            uids: set[str] = set()
            for name, data, meta in items:
                uid = str(meta.get("uid", ""))
                if uid in uids:
                    raise UidConflict(f"UID {uid!r} appears twice", name)
                uids.add(uid)
                target = index.uid_owner(uid) or name
                held = index.objects.get(target)
                if held is not None and held.get("uid") != uid:
                    raise UidConflict(f"{target!r} already holds UID {held.get('uid')!r}",
                                      target)
                if target in names:
                    raise Conflict(f"two objects would be stored as {target!r}")
                names.add(target)
                plan.append((target, data, meta, held is None))
            if not plan:
                return []
            fsutil.ensure_dir(self.layout.objects_dir)
            for target, data, _, _ in plan:
                fsutil.atomic_write(self.layout.object_path(target), data, durable=False)
            for target, _, _, _ in plan:
                fd = os.open(self.layout.object_path(target), os.O_RDONLY)
                try:
                    os.fdatasync(fd)
                finally:
                    os.close(fd)
            fsutil.fsync_dir(self.layout.objects_dir)
            out: list[tuple[str, str, bool]] = []
            now = int(time.time())
            for target, data, meta, created in plan:
                entry = dict(meta)
                entry.update(etag=etag_of(data), size=len(data), mtime=now)
                index.set_entry(target, entry)
                out.append((target, entry["etag"], created))
            index.pending = [{"c": index.ctag, "b": index.pending}]
            self._write_index(index)
        return out

    def move(self, name: str, target: Collection, new_name: str, *, overwrite: bool = True,
             if_match: str | None = None) -> tuple[str, bool]:
        """Move an object to `target` (possibly this collection) under `new_name`."""
        return self._transfer(name, target, new_name, overwrite, if_match, keep=False)

    def copy_to(self, name: str, target: Collection, new_name: str, *, overwrite: bool = True,
                if_match: str | None = None) -> tuple[str, bool]:
        """COPY (RFC 4918 §9.8) an object to `target` under `new_name`; refused with
        `UidConflict` when the destination collection already holds its UID elsewhere (a copy
        inside one calendar always is: RFC 4791 §5.3.2.1)."""
        return self._transfer(name, target, new_name, overwrite, if_match, keep=True)

    def _transfer(self, name: str, target: Collection, new_name: str, overwrite: bool,
                  if_match: str | None, *, keep: bool) -> tuple[str, bool]:
        check_name(new_name, "resource name")
        first, second = sorted([self, target], key=lambda c: str(c.layout.lock))
        with fsutil.locked(first.layout.lock):
            lock2 = fsutil.locked(second.layout.lock) if second is not first and \
                second.layout.lock != first.layout.lock else None
            if lock2 is not None:
                lock2.__enter__()
            try:
                return self._transfer_locked(name, target, new_name, overwrite, if_match, keep)
            finally:
                if lock2 is not None:
                    lock2.__exit__(None, None, None)

    def _transfer_locked(self, name: str, target: Collection, new_name: str, overwrite: bool,
                         if_match: str | None, keep: bool) -> tuple[str, bool]:
        src = self._locked_index()
        entry = src.objects.get(name)
        if entry is None:
            raise NotFound(f"{name!r} not found")
        self._check_preconditions(entry, if_match, None)
        same = target.layout.dir == self.layout.dir
        if same and name == new_name:
            if keep:
                raise Conflict("the source and the destination are the same resource")
            return entry["etag"], False
        dst = src if same else target._locked_index()
        existing = dst.objects.get(new_name)
        if existing is not None and not overwrite:
            raise PreconditionFailed("the destination exists (Overwrite: F)")
        owner = dst.uid_owner(entry.get("uid", ""))
        allowed = {new_name} | ({name} if same and not keep else set())
        if owner is not None and owner not in allowed:
            raise UidConflict("the destination already holds this UID", owner)
        data = self.layout.object_path(name).read_bytes()
        fsutil.ensure_dir(target.layout.objects_dir)
        fsutil.atomic_write(target.layout.object_path(new_name), data)
        dst.set_entry(new_name, dict(entry, mtime=int(time.time())))
        if keep:
            target._write_index(dst)
            return entry["etag"], existing is None
        if same:
            self._remove_locked(src, name)
            self._write_index(src)
        else:
            target._write_index(dst)
            self._remove_locked(src, name)
            self._write_index(src)
        try:
            os.unlink(self.layout.object_path(name))
        except FileNotFoundError:
            pass
        return entry["etag"], existing is None

    def update_meta(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply `change` to the metadata document; bumps the ctag (clients re-read props)."""
        with fsutil.locked(self.layout.lock):
            index = self._locked_index()
            meta = self.meta()
            change(meta)
            meta["version"] = META_VERSION
            fsutil.write_json(self.layout.meta_file, meta)
            index.bump()
            self._write_index(index)
        return meta


Notify = Callable[[str, int], None]


def notifier(events: EventBus | None, domain: str, username: str, kind: str) -> Notify | None:
    """What a home calls after each durable change of a collection: publishes a `Change`
    (``kind`` "calendar" or "contacts", folder ``kind/name``, modseq the ctag) on the change
    bus, which carries it to every process (webmail live updates, later the SSE stream)."""
    if events is None:
        return None

    def notify(name: str, ctag: int) -> None:
        events.publish(Change(domain, username, kind, f"{kind}/{name}", ctag))

    return notify


class Home:
    """All collections of one kind of one user (`calendars/` or `contacts/`)."""

    def __init__(self, home_dir: Path, kind: Kind, notify: Notify | None = None) -> None:
        self.dir = home_dir
        self.kind = kind
        self.notify = notify

    def changed(self, name: str, ctag: int) -> None:
        """A collection's change is durable (journal appended or snapshot written)."""
        if self.notify is not None:
            self.notify(name, ctag)

    @property
    def lock(self) -> Path:
        return self.dir / HOME_LOCK

    def collection(self, name: str) -> Collection:
        check_name(name, f"{self.kind.label} name")
        return Collection(self, name)

    def get(self, name: str) -> Collection:
        coll = self.collection(name)
        if not coll.exists():
            raise NotFound(f"{self.kind.label} {name!r} not found")
        return coll

    def names(self) -> list[str]:
        try:
            entries = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return []
        return [n for n in entries if not n.startswith(".") and
                (self.dir / n / "index.json").is_file()]

    def create(self, name: str, meta: dict[str, Any], *, exist_ok: bool = False) -> Collection:
        coll = self.collection(name)
        fsutil.ensure_dir(self.dir)
        with fsutil.locked(self.lock):
            if coll.exists():
                if exist_ok:
                    return coll
                raise AlreadyExists(f"{self.kind.label} {name!r} already exists")
            if coll.layout.dir.exists():  # a leftover without an index: a crash mid-create
                fsutil.remove_tree(coll.layout.dir)
            self._remove_leftovers()
            staging = self.dir / f".new-{secrets.token_hex(8)}"
            staging.mkdir()
            tmp = CollectionLayout(staging, self.kind.meta_name, self.kind.objects_name)
            tmp.objects_dir.mkdir()
            doc = dict(meta, version=META_VERSION, created=int(time.time()))
            fsutil.write_json(tmp.meta_file, doc)
            index = Index(0, secrets.token_hex(8))
            fsutil.atomic_write(tmp.index_file, _dump(index.to_doc()))
            fsutil.fsync_dir(staging)
            os.rename(staging, coll.layout.dir)
            fsutil.fsync_dir(self.dir)
        self.changed(name, 0)
        return coll

    def _remove_leftovers(self) -> None:
        """Staging and trash directories a crash left behind (under the home lock)."""
        for entry in os.listdir(self.dir):
            if entry.startswith((".new-", ".trash-")):
                fsutil.remove_tree(self.dir / entry)

    def delete(self, name: str, *, if_match: str | None = None) -> None:
        coll = self.get(name)
        with fsutil.locked(self.lock), fsutil.locked(coll.layout.lock):
            if not coll.exists():
                raise NotFound(f"{self.kind.label} {name!r} not found")
            if if_match is not None and if_match.strip() != "*":
                raise PreconditionFailed("If-Match on a collection")
            trash = self.dir / f".trash-{secrets.token_hex(8)}"
            os.rename(coll.layout.dir, trash)
            fsutil.fsync_dir(self.dir)
        fsutil.remove_tree(trash)
        self.changed(name, 0)
