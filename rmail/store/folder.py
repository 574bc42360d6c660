"""One mail folder (`Folder`): its index (snapshot + journal), its message files, their meta
log and header cache, and the appends, flag changes, copies and expunges that change them.
Synchronous: front ends call it from a thread pool. The user's folder list and quota are
`rmail.store.mailbox.UserMailbox`'s.

Lock rules (STYLE.md #7):
- `folder.lock` (flock sidecar, via `fsutil.locked`) serialises writers of one folder's index,
  journal, meta log and header cache, across threads and processes. Held only around local
  disk work.
- `Folder._mem` (an RLock) guards the in-memory index of this process; held briefly, never
  across an fsync of the journal. The folder's `recent` floor file (`Folder.claim_recent`)
  changes only under `folder.lock`.
- Change events are published after the batch's sync wave (journal included) is done and
  the lock released.

Durability of an append: group commit (`rmail.store.groupcommit`, which says why and how).
The folder supplies its half: under the folder lock `_place_batch` allocates UIDs and appends the
batch's journal lines unsynced; after it `_sync_wave` waits for the batch's sync wave, then
counts the usage and publishes the change. The first open of the folder in each process
(`_verify_tail`) drops journaled appends whose files a crash left short or missing; a
compaction syncs the journal's message files before folding them into a snapshot.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import re
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import orjson

from rmail.mail.headerkeys import thread_root
from rmail.store import fsutil, groupcommit
from rmail.store.errors import (
    Conflict,
    CorruptStore,
    InvalidValue,
    NotFound,
)
from rmail.store.events import Change
from rmail.store.groupcommit import AppendResult
from rmail.store.headercache import HeaderCache
from rmail.store.headercache import Record as HeaderRecord
from rmail.store.heldfiles import HeldFiles
from rmail.store.journal import (
    DELETED,
    SEEN,
    FolderIndex,
    MessageRecord,
    dump_record,
    normalize_flags,
    parse_journal,
)
from rmail.store.layout import FolderLayout
from rmail.store.metalog import MetaLog

if TYPE_CHECKING:
    from rmail.store.mailbox import UserMailbox

log = logging.getLogger(__name__)

T = TypeVar("T")

COMPACT_MIN_BYTES = 256 * 1024
FOLDER_VERSION = 1
FLAG_MODES = ("set", "add", "remove")


@dataclass(frozen=True, slots=True)
class StoreResult:
    """Outcome of a flag change. `failed` are UIDs skipped by UNCHANGEDSINCE (RFC 7162 §3.1.3)."""

    modseq: int
    changed: list[int]
    failed: list[int]


@dataclass(frozen=True, slots=True)
class FolderStatus:
    count: int
    unseen: int
    uidnext: int
    uidvalidity: int
    highestmodseq: int
    bytes: int


class _Reaper:
    """Deletes expunged message files off the hot path (an unlink of an fsynced file costs about
    a millisecond). Files left behind by a crash are removed by `rmail check`."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def discard(self, paths: Iterable[Path]) -> None:
        for p in paths:
            self._queue.put(p)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="rmail-reaper",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                path = self._queue.get(timeout=5)
            except queue.Empty:
                return
            if path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued file is gone (tests, shutdown)."""
        self._queue.join()


REAPER = _Reaper()
_GENERATION = re.compile(rb'"generation": ?(\d+)')


# Folders holding their snapshot and journal open (`Folder._pin`); past the cap the least
# recently pinned lets go (its next commit reads the generation again and pins anew). Three
# descriptors per pinned folder (snapshot, journal, header cache): with the usual soft limit
# of 1,024 a process keeps a sixteenth of them for pins (64 folders).
_PINNED: HeldFiles[Folder] = HeldFiles(lambda folder: folder._unpin(), most=256, share=16,
                                       least=8)


class Folder:
    """One mail folder: its index (snapshot + journal) and its message files."""

    def __init__(self, owner: UserMailbox, folder_id: str, name: str) -> None:
        self.owner = owner
        self.id = folder_id
        self.name = name
        self.layout = FolderLayout(owner.layout.folder_dir(folder_id))
        self._snapshot_s = str(self.layout.snapshot)  # hot paths skip pathlib
        self._journal_s = str(self.layout.journal)
        self._lock_s = str(self.layout.lock)
        self._mem = threading.RLock()
        self._index: FolderIndex | None = None
        self._snap_key: tuple[int, int, int] | None = None
        self._journal_key: tuple[int, int] = (-1, -1)  # inode, bytes consumed
        self._journal_seen: tuple[int, int, int] | None = None  # inode, size, mtime at refresh
        self._locked_seen: tuple[int, int, int] | None = None  # the same, for `_append_journal`
        # Descriptors of the snapshot and journal the index was built on, held open by a writer
        # between batches (`_pin`; `_mem` guards them): an inode held open cannot be freed and
        # reused, so "the path still has the inode I hold" proves "nobody replaced the file".
        self._pins: tuple[int, int, int, int] | None = None  # snapshot, journal fd; inodes
        self._committer = groupcommit.Committer(self._place_batch, self._sync_wave)
        self._tail_verified = False
        self._journal_floor = 0  # the loaded snapshot's uidnext (see `_verify_tail`)
        self._recent_s = str(self.layout.recent)
        self.metas = MetaLog(self.layout.meta_log)
        self.headers = HeaderCache(self.layout.dir, self._lock_s, self._meta_if_present)

    @staticmethod
    def initialise(fl: FolderLayout, uidvalidity: int) -> None:
        """Create an empty folder on disk: folder.json, an empty snapshot and journal."""
        fl.dir.mkdir(parents=True, exist_ok=True)
        fsutil.write_json(fl.folder_file, {"version": FOLDER_VERSION, "uidvalidity": uidvalidity,
                                           "created": int(time.time())})
        Folder._write_snapshot_file(fl, FolderIndex(uidvalidity))
        fsutil.atomic_write(fl.recent, b"1\n", durable=False)  # everything to come is recent
        fsutil.atomic_write(fl.journal, b"")
        fsutil.fsync_dir(fl.dir.parent)

    # -- reading the index -----------------------------------------------------------------------
    def _refresh(self, *, snapshot_pinned: bool = False) -> FolderIndex:
        """Bring the in-memory index up to date with disk; called with `_mem` held.

        The common case costs one `stat`: the snapshot only ever changes together with a
        new journal file (compaction, `rmail check`), so a non-empty journal with the same
        inode, size and mtime as last time means an unchanged folder. An empty journal (just
        compacted) proves nothing, since a new empty one can reuse the inode: then the
        snapshot is checked too, unless the caller just found the path still holding the
        snapshot it keeps pinned (`snapshot_pinned`, `_refresh_locked`). Afterwards
        `_journal_seen` is this refresh's stat of the journal, or None after a reload."""
        try:
            st = os.stat(self._journal_s)
        except FileNotFoundError:
            return self._reload()
        ino, consumed = self._journal_key
        if self._index is not None and consumed > 0 and \
                self._journal_seen == (st.st_ino, st.st_size, st.st_mtime_ns):
            return self._index
        snap = self._snap_key if snapshot_pinned else self._stat_key(self._snapshot_s)
        if self._index is None or snap != self._snap_key:
            return self._reload()
        if st.st_ino != ino or st.st_size < consumed:
            return self._reload()
        if st.st_size > consumed:
            if self._pins is not None and ino == self._pins[3]:  # the path's (same inode)
                records, valid = parse_journal(fsutil.read_from(self._pins[1], consumed))
            else:
                with open(self._journal_s, "rb") as f:
                    if os.fstat(f.fileno()).st_ino != ino:
                        return self._reload()
                    f.seek(consumed)
                    records, valid = parse_journal(f.read())
            for rec in records:
                self._index.apply(rec)
            self._journal_key = (ino, consumed + valid)
        self._journal_seen = (st.st_ino, st.st_size, st.st_mtime_ns)
        return self._index

    def _refresh_locked(self) -> FolderIndex:
        """`_refresh` for a writer holding the folder lock. A file's identity is judged by
        (inode, mtime, size); inode numbers are reused and mtimes are coarse, so a writer also
        compares the snapshot's generation (bumped by every compaction) before it trusts its
        in-memory index to allocate UIDs or decide which message files are leftovers.

        Every group commit comes here. Once a writer has pinned the files its index was built
        on (`_pin`), one `stat` replaces reading the generation: the snapshot at the path is
        the pinned inode exactly when no compaction (or repair) replaced it, and `_refresh`
        checks the journal's inode the same way."""
        pins = self._pins
        if pins is not None and (self._snap_key is None or self._snap_key[0] != pins[2]
                                 or self._journal_key[0] != pins[3]):
            self._unpin()  # the index is not built on the pinned files (never expected)
            pins = None
        if self._index is not None and pins is not None:
            try:
                same = os.stat(self._snapshot_s).st_ino == pins[2]
            except FileNotFoundError as exc:
                raise NotFound(f"folder {self.name!r} has no index") from exc
            if not same:
                self._index = None
            idx = self._refresh(snapshot_pinned=same)
            self._locked_seen = self._journal_seen  # saves `_append_journal` an fstat
            if self._pins is None:  # reloaded: pin the new files
                self._pin()
            return idx
        if self._index is not None:
            try:
                fd = os.open(self._snapshot_s, os.O_RDONLY)
            except FileNotFoundError as exc:
                raise NotFound(f"folder {self.name!r} has no index") from exc
            try:
                head = os.read(fd, 256)
            finally:
                os.close(fd)
            m = _GENERATION.search(head)
            if (int(m.group(1)) if m else 0) != self._index.generation:
                self._index = None
        idx = self._refresh()
        self._pin()
        return idx

    def _pin(self) -> None:
        """Hold the snapshot and journal the index was just built on open (folder lock and
        `_mem` held, index current): from now on `_refresh_locked` needs no generation read
        and the journal needs no open per batch. A file at the path that is not the index's
        (it cannot change under the folder lock, so only a confused caller) pins nothing."""
        if self._pins is not None or self._snap_key is None:
            return
        try:
            snap = os.open(self._snapshot_s, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            journal = os.open(self._journal_s, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except OSError:  # a read-only store: writers open the journal as before
            os.close(snap)
            return
        snap_ino, journal_ino = os.fstat(snap).st_ino, os.fstat(journal).st_ino
        if snap_ino != self._snap_key[0] or journal_ino != self._journal_key[0]:
            os.close(snap)
            os.close(journal)
            return
        self._pins = (snap, journal, snap_ino, journal_ino)
        self.headers.hold(True)
        _PINNED.add(self)

    def _unpin(self) -> None:
        """Close the pinned descriptors (`_mem` held). A wave still syncing the journal holds
        its own duplicate, so closing here never pulls a descriptor from under it."""
        pins, self._pins = self._pins, None
        if pins is not None:
            _PINNED.discard(self)
            self.headers.hold(False)
            for fd in pins[:2]:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def __del__(self) -> None:
        # No lock may be taken here: a garbage collection can run this inside
        # `HeldFiles.add`, on the thread that holds the registry's lock (a deadlock seen
        # in the suite). The registry drops the dead weak reference itself; the header cache
        # lets go without waiting (`HeaderCache.hold`).
        pins, self._pins = self._pins, None
        if pins is None:
            return
        with contextlib.suppress(Exception):
            self.headers.hold(False)
        for fd in pins[:2]:
            with contextlib.suppress(OSError):
                os.close(fd)

    @staticmethod
    def _stat_key(path: str | Path) -> tuple[int, int, int]:
        try:
            st = os.stat(path)
        except FileNotFoundError as exc:
            raise NotFound(f"folder index {path} is missing") from exc
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _reload(self) -> FolderIndex:
        for _ in range(10):  # retry while a compaction by another process swaps files
            before = self._stat_key(self._snapshot_s)
            with open(self._snapshot_s, "rb") as f:
                index = FolderIndex.read_snapshot(f, str(self.layout.snapshot))
            floor = index.uidnext  # every UID from here on was appended by a journal line
            with open(self._journal_s, "rb") as f:
                ino = os.fstat(f.fileno()).st_ino
                records, valid = parse_journal(f.read())
            for rec in records:
                index.apply(rec)
            if self._stat_key(self._snapshot_s) == before:
                if self._pins is not None and (before[0] != self._pins[2]
                                               or ino != self._pins[3]):
                    self._unpin()  # other files now: the next writer pins them
                self._index, self._snap_key, self._journal_key = index, before, (ino, valid)
                self._journal_seen = None  # no stat of this read: `_append_journal` fstats
                self._journal_floor = floor
                return index
        raise CorruptStore(f"{self.layout.dir}: index keeps changing while being read")

    def index(self) -> FolderIndex:
        """The current index. Callers read it under no lock, so they must copy what they need
        before the next store call (IMAP sessions keep their own UID view anyway)."""
        with self._mem:
            return self._refresh()

    def read_index(self, fn: Callable[[FolderIndex], T]) -> T:
        """Run `fn` on the current index with the in-memory lock held, for a read of several
        columns that no concurrent change can tear (IMAP session views). `fn` must be quick
        and must not call back into the store."""
        with self._mem:
            return fn(self._refresh())

    def status(self) -> FolderStatus:
        with self._mem:
            idx = self._refresh()
            return FolderStatus(len(idx), idx.unseen, idx.uidnext, idx.uidvalidity,
                                idx.highestmodseq, idx.total_bytes)

    # -- \Recent (RFC 3501 §2.3.2) --------------------------------------------------------------
    def claim_recent(self, uids: Sequence[int]) -> list[int]:
        """Claim as \\Recent those of `uids` (ascending: the messages a session is being told
        about, at SELECT or as new mail) that no session has claimed yet; each message is
        recent in exactly one session, the first to claim it, across every process.

        The folder's `recent` file holds the first UID not yet claimed (like Dovecot's
        first-recent-uid in its index header), so it survives a restart and is shared by every
        worker; it changes under the folder lock. It lives in the store rather than the IMAP
        layer because deliveries (LMTP, SMTP, the API) happen where no session sees them. A
        folder older than the file starts it at its next UID (what is there is not recent).
        The file is replaced without fsync: after a power loss a message may be recent once
        more, which RFC 3501 §2.3.2 tolerates far better than an fsync per SELECT."""
        if not uids:
            return []
        floor = self._read_recent_floor()
        if floor is not None and uids[-1] < floor:  # the common case: nothing new, no lock
            return []
        with fsutil.locked(self._lock_s):
            stored = floor = self._read_recent_floor()
            if floor is None:
                with self._mem:
                    floor = self._refresh_locked().uidnext
            if uids[-1] < floor:
                claimed: list[int] = []
                new_floor = floor
            else:
                claimed = list(uids[bisect_left(uids, floor):])
                new_floor = uids[-1] + 1
            if new_floor != stored:
                fsutil.atomic_write(self._recent_s, b"%d\n" % new_floor, durable=False)
        return claimed

    def unclaimed_recent(self) -> int:
        """How many messages are recent but not yet claimed by a session (STATUS RECENT)."""
        floor = self._read_recent_floor()
        with self._mem:
            idx = self._refresh()
            if floor is None:
                return 0
            return len(idx.uids) - bisect_left(idx.uids, floor)

    def _read_recent_floor(self) -> int | None:
        """The `recent` file's UID; None when the folder has none yet (or it is unreadable,
        e.g. torn by a crash: the next claim starts it afresh)."""
        try:
            with open(self._recent_s, "rb") as f:
                return int(f.read(32))
        except (FileNotFoundError, ValueError):
            return None

    @property
    def uidvalidity(self) -> int:
        return self.index().uidvalidity

    def record(self, uid: int) -> MessageRecord:
        with self._mem:
            rec = self._refresh().record(uid)
        if rec is None:
            raise NotFound(f"no message with UID {uid} in {self.name!r}")
        return rec

    def records(self, offset: int = 0, limit: int = 100, *,
                newest_first: bool = True) -> list[MessageRecord]:
        """A page of records: O(limit), whatever the folder size."""
        with self._mem:
            idx = self._refresh()
            n = len(idx)
            if newest_first:
                positions: Sequence[int] = range(n - 1 - offset, max(n - 1 - offset - limit, -1),
                                                 -1)
            else:
                positions = range(offset, min(offset + limit, n))
            return [idx.record_at(i) for i in positions if 0 <= i < n]

    def uids(self) -> list[int]:
        with self._mem:
            return self._refresh().uids.tolist()

    # -- message bytes and meta --------------------------------------------------------------
    def message_path(self, uid: int) -> Path:
        self.record(uid)
        return self.layout.msg_path(uid)

    def open_message(self, uid: int) -> IO[bytes]:
        """Open the raw message for reading (callers read only the byte ranges they need)."""
        self.record(uid)
        try:
            return open(self.layout.msg_file(uid), "rb")  # a str: no Path per message
        except FileNotFoundError as exc:
            raise NotFound(f"message file for UID {uid} is missing") from exc

    def read_message(self, uid: int) -> bytes:
        with self.open_message(uid) as f:
            return f.read()

    def meta(self, uid: int) -> dict[str, Any]:
        """Parsed envelope/bodystructure/summary, from the folder's meta log
        (`rmail.store.metalog`), or the meta file a store from before the log has; rebuilt
        from the message (and appended to the log) when neither has a readable one."""
        data = self.meta_bytes(uid)
        if data is not None:
            with contextlib.suppress(orjson.JSONDecodeError):
                doc = orjson.loads(data)
                if isinstance(doc, dict) and doc:
                    return doc
        return orjson.loads(self.rebuild_meta(uid))

    def meta_bytes(self, uid: int, *, live: bool = True) -> bytes | None:
        """The recorded meta JSON of `uid` (not parsed), or None: the log's record, else the
        per-message file of an older store. NotFound for a message not in the index (the log
        keeps expunged messages' records for a while), unless `live` is False."""
        with self._mem:
            idx = self._refresh()
            uidvalidity = idx.uidvalidity
            if live and idx.position(uid) is None:
                raise NotFound(f"no message with UID {uid} in {self.name!r}")
        data = self.metas.get(uid, uidvalidity)
        if data:
            return data
        try:
            with open(self.layout.meta_file(uid), "rb") as f:  # a str: no Path per message
                return f.read() or None
        except FileNotFoundError:
            return None

    def rebuild_meta(self, uid: int, *, locked: bool = False) -> bytes:
        """Parse message `uid` again and append the result to the meta log (`locked`: the
        caller holds the folder lock already)."""
        meta = groupcommit.parse_meta(self.read_message(uid))
        if meta is None:
            raise CorruptStore(f"message UID {uid} in {self.name!r} cannot be parsed")
        # a cache: when it cannot be written, the next read parses again
        with contextlib.suppress(OSError, NotFound), \
                contextlib.nullcontext() if locked else fsutil.locked(self._lock_s):
            with self._mem:
                uidvalidity = self._refresh_locked().uidvalidity
            self.metas.append_locked([(uid, meta)], uidvalidity)
        return meta

    def _meta_if_present(self, uid: int) -> dict[str, Any] | None:
        try:
            return self.meta(uid)
        except (NotFound, CorruptStore, OSError):
            return None

    def header_records(self, uids: Sequence[int]) -> list[HeaderRecord | None]:
        """The header cache's record of each message (`rmail.mail.headerkeys`), None for one
        that has gone: what SEARCH, SORT and THREAD read instead of the messages."""
        with self._mem:
            idx = self._refresh()
            uidvalidity, live = idx.uidvalidity, len(idx)
        records = self.headers.records(uids, uidvalidity)
        if self.headers.size() > 2 * live + 1000:
            self.headers.compact(self.uids(), uidvalidity)
        return records

    # -- stable object ids (RFC 8474, JMAP) -------------------------------------------------------
    def mailbox_id(self) -> str:
        """This folder's MAILBOXID: kept through RENAME (the folder id does not change), new
        for a folder deleted and made again (a new UIDVALIDITY), unique across users."""
        return self.make_mailbox_id(self.owner.domain, self.owner.username, self.id,
                                    self.uidvalidity)

    @staticmethod
    def make_mailbox_id(domain: str, username: str, folder_id: str, uidvalidity: int) -> str:
        """`mailbox_id` of a folder that may be gone (a deleted folder's last id)."""
        key = f"{domain}\0{username}\0{folder_id}\0{uidvalidity}"
        return "F" + hashlib.blake2b(key.encode("utf-8", "surrogateescape"),
                                     digest_size=12).hexdigest()

    def email_ids(self, uids: Sequence[int]) -> list[str | None]:
        """The EMAILID of each message (None once it has gone): the identity of its file,
        which COPY and MOVE share (hard links) and no other message has. Message files never
        change, so the id holds as long as the file; a restore from backup makes new ids."""
        out: list[str | None] = []
        for uid in uids:
            try:
                st = os.stat(self.layout.msg_file(uid))
            except FileNotFoundError:
                out.append(None)
                continue
            out.append("M" + hashlib.blake2b(b"%d:%d" % (st.st_ino, st.st_mtime_ns),
                                             digest_size=12).hexdigest())
        return out

    def thread_id(self, uid: int, rec: HeaderRecord | None) -> str | None:
        """The THREADID (RFC 8474 §5.2) of message `uid` with header-cache record `rec`: named
        by its thread's first Message-ID (`headerkeys.thread_root`) and the user, so every
        message that names the same first message has it, in every folder, across restarts
        and copies, without a table to keep. A message with no Message-ID and no references
        is a thread of its own (named by its EMAILID). None once the message has gone."""
        root = thread_root(rec) if rec is not None else None
        if root is None:
            email_id = self.email_ids([uid])[0]
            return None if email_id is None else "T" + email_id[1:]
        key = f"{self.owner.domain}\0{self.owner.username}\0{root}"
        return "T" + hashlib.blake2b(key.encode("utf-8", "surrogateescape"),
                                     digest_size=12).hexdigest()

    # -- appending ------------------------------------------------------------------------------
    def append(self, raw: bytes, flags: Iterable[str] = (), internaldate: int | None = None, *,
               quota_bytes: int | None = None) -> AppendResult:
        """Store a message; returns once the message and its index entry are durable."""
        return self.append_many([(raw, flags, internaldate)], quota_bytes=quota_bytes)[0]

    def append_many(self, messages: Sequence[tuple[bytes, Iterable[str], int | None]], *,
                    quota_bytes: int | None = None) -> list[AppendResult]:
        """Store several messages at once. Up to MAX_BATCH of them are recorded by one
        journal write, so they are stored all or none (IMAP MULTIAPPEND relies on it)."""
        size = sum(len(raw) for raw, _, _ in messages)
        with self.owner.quota_room(size, quota_bytes):
            pending: list[groupcommit.Pending] = []
            try:
                for raw, flags, internaldate in messages:
                    pending.append(groupcommit.stage(self.owner.staging_s, raw, flags,
                                                     internaldate))
            except BaseException:
                groupcommit.discard(pending)
                raise
            return self._commit(pending)

    def _commit(self, mine: list[groupcommit.Pending]) -> list[AppendResult]:
        """Commit staged messages with everyone else's pending meanwhile (group commit). Their
        meta and header-cache records are appended while the batch is placed."""
        return self._committer.commit(mine)

    def _place_batch(self, batch: list[groupcommit.Pending]) -> groupcommit.Wave:
        """Under the folder lock: allocate UIDs, rename each staged message into `msg/` and
        append the batch's journal lines, unsynced. The lock is held for no sync at all, so
        writers in other processes (each process batches its own deliveries) place their
        batches while this one's sync wave runs, and their waves meet in one disk flush."""
        with fsutil.locked(self._lock_s):
            with self._mem:
                idx = self._refresh_locked()
                uid, modseq = idx.uidnext, idx.highestmodseq
            records, wave = groupcommit.place_all(batch, uid, modseq, self.layout.msg_file)
            # Both are caches whose failed write costs a recomputation (`meta()` rebuilds a
            # missing meta record, a search a missing header record), never the append.
            with contextlib.suppress(OSError):  # before the journal line: who sees the UID
                self.metas.append_locked([(u, p.meta) for u, p in zip(wave.uids, batch,
                                                                     strict=True)],
                                         idx.uidvalidity)  # finds its meta
            wave.journal = self._append_journal(records)
            headers = []
            for u, p in zip(wave.uids, batch, strict=True):
                if p.header is not None:
                    p.header[0] = u
                    headers.append(p.header)
            with contextlib.suppress(OSError):  # after it: a failed journal write leaves
                self.headers.add_placed(headers, idx.uidvalidity)  # no record to reuse
        return wave

    def _sync_wave(self, batch: list[groupcommit.Pending], wave: groupcommit.Wave) -> None:
        """Outside the lock, one sync wave: fdatasync the placed message files, fsync the
        touched directories and the journal, all at once. Only then is the batch
        acknowledged; a crash before leaves journal lines whose files may be short or
        missing, which `_verify_tail` drops (never acknowledged)."""
        groupcommit.sync_files(self.owner.store.sync_crew, wave)
        self.owner._usage_changed(sum(p.size for p in batch))
        for p in batch:
            p.done = True
        self.owner.store.publish(Change(self.owner.domain, self.owner.username, "append",
                                        self.id, wave.modseq, tuple(wave.uids)))

    def _verify_tail(self) -> None:
        """Once per process and folder: drop index entries appended since the last snapshot
        (at least the last MAX_BATCH) whose message file is short or missing. Commit waves
        run outside the folder lock, so after a crash any number of batches may have a
        durable journal line (synced by a later writer's wave) and a file that was not yet
        synced; none of them was acknowledged. A compaction syncs every such file before it
        folds the journal into a snapshot (`_compact`), so the snapshot's entries need no
        check."""
        if self._tail_verified:
            return
        if not self.layout.snapshot.exists():
            return  # a folder being deleted or a damaged one: `rmail check` deals with it
        with fsutil.locked(self._lock_s):
            with self._mem:
                idx = self._refresh_locked()
                start = min(max(0, len(idx) - groupcommit.MAX_BATCH),
                            bisect_left(idx.uids, self._journal_floor))
                tail = [idx.record_at(i) for i in range(start, len(idx))]
            broken = []
            for rec in tail:
                try:
                    ok = os.stat(self.layout.msg_file(rec.uid)).st_size == rec.size
                except FileNotFoundError:
                    ok = False
                if not ok:
                    broken.append(rec.uid)
            if broken:
                # Never acknowledged after a crash, or files really lost (a damaged or
                # partly restored store): either way the index must stop listing them, and
                # the second case is worth knowing about.
                log.warning("%s/%s folder %r: dropped %d index entries whose message file "
                            "is missing or short (UIDs %s); run `rmail check` if this was "
                            "not a crash", self.owner.domain, self.owner.username, self.name,
                            len(broken), _uid_summary(broken))
                with self._mem:
                    idx = self._refresh()
                    op = idx.op_expunge(broken, idx.highestmodseq + 1)
                self._write_journal([op] if op else [])
        self._tail_verified = True

    def _write_journal(self, records: list[dict[str, Any]]) -> None:
        """Append records durably and apply them in memory. Called with the folder lock held
        and the index refreshed under it, so we know exactly where our bytes land."""
        if not records:
            return
        fd = self._append_journal(records)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def _append_journal(self, records: list[dict[str, Any]]) -> int:
        """Append records without syncing them and apply them in memory; returns a descriptor
        of the journal written, which the caller fdatasyncs and closes. Called with the folder
        lock held and the index refreshed under it. Compacts when the journal has grown."""
        ino, consumed = self._journal_key
        with self._mem:
            pins = self._pins
            # the pinned journal is the path's (checked under the lock by `_refresh_locked`);
            # the wave gets a duplicate of its own to sync and close
            fd = os.dup(pins[1]) if pins is not None and ino == pins[3] else -1
            # the journal's size as `_refresh_locked` just saw it under this lock, if it did
            seen, self._locked_seen = self._locked_seen, None
            size = seen[1] if fd >= 0 and seen is not None and seen[0] == ino else -1
        if fd < 0:
            fd = os.open(self._journal_s, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            if (size if size >= 0 else os.fstat(fd).st_size) > consumed:  # a crashed writer's
                # torn tail
                os.ftruncate(fd, consumed)
                os.fdatasync(fd)
            data = b"".join(dump_record(r) for r in records)
            fsutil.write_all(fd, data)
            with self._mem:
                assert self._index is not None
                for rec in records:
                    self._index.apply(rec)  # idempotent if a reader already replayed it
                self._journal_key = (ino, max(self._journal_key[1], consumed + len(data)))
            size = consumed + len(data)
            if size > max(COMPACT_MIN_BYTES, self._snap_key[2] // 4 if self._snap_key else 0):
                self._compact()
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _compact(self) -> None:
        """Fold the journal into a new snapshot; called with the folder lock held. The
        journal's appends may have sync waves still running (in this or another process):
        their files and directories are synced first, so every entry of a snapshot has its
        file on disk and only the journal's appends need checking after a crash."""
        with self._mem:
            idx = self._refresh()
            fresh = idx.uids[bisect_left(idx.uids, self._journal_floor):].tolist()
            idx.generation += 1
            clone = _clone_index(idx)
        self._sync_messages(fresh)
        self._write_snapshot_file(self.layout, clone)
        fsutil.atomic_write(self.layout.journal, b"")
        with self._mem:
            self._unpin()
            self._snap_key = self._stat_key(self._snapshot_s)
            self._journal_key = (os.stat(self._journal_s).st_ino, 0)
            self._journal_floor = clone.uidnext
            self._pin()

    def _sync_messages(self, uids: list[int]) -> None:
        """fdatasync the message files of `uids` and fsync their buckets, in parallel (files
        whose wave already ran are clean: their sync returns at once). A missing file is left
        to `_verify_tail` and `rmail check`."""
        if not uids:
            return
        files = [self.layout.msg_file(uid) for uid in uids]
        dirs = {os.path.dirname(f) for f in files}
        step = -(-len(files) // groupcommit.SYNC_THREADS)
        calls: list[tuple[Callable[[Any], None], Any]] = [
            (groupcommit.fdatasync_paths, files[i:i + step]) for i in range(step, len(files), step)]
        calls += [(fsutil.fsync_dir, d) for d in dirs if os.path.isdir(d)]
        self.owner.store.sync_crew.run(calls, groupcommit.fdatasync_paths, files[:step])

    @staticmethod
    def _write_snapshot_file(fl: FolderLayout, idx: FolderIndex) -> None:
        tmp = fsutil.tmp_name(fl.snapshot)
        with open(tmp, "wb") as f:
            idx.write_snapshot(f)
            f.flush()
            os.fdatasync(f.fileno())
        os.replace(tmp, fl.snapshot)
        fsutil.fsync_dir(fl.dir)

    def compact(self) -> None:
        """Force a compaction (used by `rmail check` and tests)."""
        with fsutil.locked(self._lock_s):
            self._compact()

    # -- changing flags ---------------------------------------------------------------------
    def store_flags(self, uids: Iterable[int], mode: str, flags: Iterable[str], *,
                    unchanged_since: int | None = None) -> StoreResult:
        """Set, add or remove flags on messages; only messages that really change get a new
        modseq. With `unchanged_since`, messages modified after it are left alone and reported
        in `failed` (CONDSTORE)."""
        if mode not in FLAG_MODES:
            raise InvalidValue(f"flag mode must be one of {FLAG_MODES}")
        wanted = list(flags)
        uid_list = sorted(set(uids))
        with fsutil.locked(self._lock_s):
            with self._mem:
                idx = self._refresh_locked()
                failed: list[int] = []
                if unchanged_since is not None:
                    keep = []
                    for uid in uid_list:
                        i = idx.position(uid)
                        if i is not None and idx.modseqs[i] > unchanged_since:
                            failed.append(uid)
                        else:
                            keep.append(uid)
                    uid_list = keep
                op = idx.op_flags(uid_list, mode, wanted, idx.highestmodseq + 1)
            if op is not None:
                self._write_journal([op])
        if op is None:
            return StoreResult(0, [], failed)
        changed = [u for lo, hi in op["uids"] for u in range(lo, hi + 1)]
        self.owner.store.publish(Change(self.owner.domain, self.owner.username, "flags", self.id,
                                        op["modseq"], tuple(changed)))
        return StoreResult(op["modseq"], changed, failed)

    # -- removing ---------------------------------------------------------------------------
    def expunge(self, uids: Iterable[int] | None = None, *,
                only_deleted: bool = False) -> list[int]:
        """Remove messages: the given UIDs, or every message flagged \\Deleted. With
        `only_deleted`, just those of the given UIDs that carry \\Deleted at this moment, decided
        under the lock (IMAP UID EXPUNGE, RFC 4315 §2.1). Returns the UIDs removed. Files are
        deleted in the background after the journal is durable."""
        with fsutil.locked(self._lock_s):
            with self._mem:
                idx = self._refresh_locked()
                if uids is None:
                    targets = [idx.uids[i] for i in range(len(idx))
                               if DELETED in idx.flags_of(i)]
                elif only_deleted:
                    targets = [uid for uid in uids if (i := idx.position(uid)) is not None
                               and DELETED in idx.flags_of(i)]
                else:
                    targets = list(uids)
                op = idx.op_expunge(targets, idx.highestmodseq + 1)
                before = idx.total_bytes
            if op is not None:
                self._write_journal([op])
                self.owner._usage_changed(self.index().total_bytes - before)
        if op is None:
            return []
        gone = [u for lo, hi in op["uids"] for u in range(lo, hi + 1)]
        REAPER.discard(p for u in gone
                       for p in (self.layout.msg_path(u), *self.layout.derived_paths(u)))
        self.owner.store.publish(Change(self.owner.domain, self.owner.username, "expunge",
                                        self.id, op["modseq"], tuple(gone)))
        self._tidy_meta_log()
        return gone

    def _tidy_meta_log(self) -> None:
        """After an expunge: rewrite the meta log once expunged messages' records outweigh
        the live ones (`rmail.store.metalog` says why here). The estimate needs no lock (a
        process that never read the log scans it here, outside the folder lock); the rewrite
        takes the folder lock, as every writer of the log does."""
        with self._mem:
            idx = self._refresh()
            live, uidvalidity = len(idx), idx.uidvalidity
        try:
            if not self.metas.wants_rewrite(live, uidvalidity):
                return
            with fsutil.locked(self._lock_s):
                with self._mem:
                    idx = self._refresh_locked()
                    uids, uidvalidity = idx.uids.tolist(), idx.uidvalidity
                self.metas.rewrite_locked(uids, uidvalidity)
        except (OSError, NotFound) as exc:  # a cache: the garbage stays until the next expunge
            log.warning("%s: meta log not rewritten: %s", self.layout.dir, exc)

    # -- copying and moving -------------------------------------------------------------------
    def copy(self, uids: Iterable[int], dest: Folder, *,
             quota_bytes: int | None = None) -> list[tuple[int, int]]:
        """Copy messages (hard links: message files never change) keeping flags and internal
        date. Returns (source UID, new UID) pairs in source UID order (UIDPLUS COPYUID)."""
        with self._mem:
            idx = self._refresh()
            recs = [r for u in sorted(set(uids)) if (r := idx.record(u)) is not None]
        if not recs:
            return []
        with dest.owner.quota_room(sum(r.size for r in recs), quota_bytes):
            return self._copy_records(recs, dest)

    def _copy_records(self, recs: list[MessageRecord], dest: Folder) -> list[tuple[int, int]]:
        staging = dest.owner.layout.staging_dir
        fsutil.ensure_dir(staging)
        with self._mem:
            known = self._refresh().wire
            wires = {r.uid: known[r.uid] for r in recs if r.uid in known}
        pending = []
        try:
            for r in recs:
                staged = groupcommit.staged_name(staging)
                os.link(self.layout.msg_path(r.uid), staged)
                meta = None
                with contextlib.suppress(OSError):
                    meta = self.meta_bytes(r.uid, live=False)
                pending.append(groupcommit.Pending(staged, meta, r.flags, r.size,
                                                   r.internaldate, durable=True,
                                                   wire=wires.get(r.uid),
                                                   header=groupcommit.header_of(meta)))
        except FileNotFoundError as exc:
            groupcommit.discard(pending)
            raise NotFound("a message disappeared while being copied") from exc
        results = dest._commit(pending)
        return [(r.uid, res.uid) for r, res in zip(recs, results, strict=True)]

    def settle(self, seen: Iterable[int], moved: Iterable[int],
               dest: Folder | None) -> tuple[list[int], list[int]]:
        """Mark `seen` \\Seen and move `moved` to `dest`, marked \\Seen there, as one change of
        this folder (a POP3 session's UPDATE state). The copies land in `dest` first, so a crash
        leaves a message in both folders, never in neither; then one journal write records the
        flag change and the expunge together, so a watcher of this folder sees both at once.
        Messages already gone are skipped. Returns (UIDs marked seen, UIDs moved)."""
        moved_set = set(moved)
        if moved_set and (dest is None or dest.id == self.id):
            raise Conflict("messages must move to another folder")
        pairs: list[tuple[int, int]] = []
        if moved_set:
            assert dest is not None
            with self._mem:
                idx = self._refresh()
                recs = [replace(r, flags=normalize_flags((*r.flags, SEEN)))
                        for u in sorted(moved_set) if (r := idx.record(u)) is not None]
            if recs:  # usage does not grow (the originals go): no quota check, as in `move`
                pairs = self._copy_records(recs, dest)
        gone_src = [src for src, _ in pairs]
        with fsutil.locked(self._lock_s):
            with self._mem:
                idx = self._refresh_locked()
                modseq = idx.highestmodseq + 1
                flag_op = idx.op_flags(set(seen) - moved_set, "add", [SEEN], modseq)
                expunge_op = idx.op_expunge(gone_src, modseq + (flag_op is not None))
                before = idx.total_bytes
            ops = [op for op in (flag_op, expunge_op) if op is not None]
            if ops:
                self._write_journal(ops)
                if expunge_op is not None:
                    self.owner._usage_changed(self.index().total_bytes - before)
        flagged = [u for lo, hi in flag_op["uids"] for u in range(lo, hi + 1)] if flag_op else []
        gone = ([u for lo, hi in expunge_op["uids"] for u in range(lo, hi + 1)]
                if expunge_op else [])
        publish = self.owner.store.publish
        if flag_op is not None:
            publish(Change(self.owner.domain, self.owner.username, "flags", self.id,
                           flag_op["modseq"], tuple(flagged)))
        if expunge_op is not None:
            REAPER.discard(p for u in gone
                           for p in (self.layout.msg_path(u), *self.layout.derived_paths(u)))
            publish(Change(self.owner.domain, self.owner.username, "expunge", self.id,
                           expunge_op["modseq"], tuple(gone)))
            self._tidy_meta_log()
        return flagged, gone

    def move(self, uids: Iterable[int], dest: Folder, *,
             quota_bytes: int | None = None) -> list[tuple[int, int]]:
        """Copy, then expunge the originals (RFC 6851). A crash in between leaves a copy in both
        folders, never in neither. Moving into the same folder is legal (RFC 6851 §3.3: COPY
        then expunge): the messages get new UIDs, and no quota is claimed for them."""
        same = dest.id == self.id and dest.owner is self.owner
        pairs = self.copy(uids, dest, quota_bytes=None if same else quota_bytes)
        self.expunge([src for src, _ in pairs])
        return pairs


def _clone_index(idx: FolderIndex) -> FolderIndex:
    """A copy of the columns, so a snapshot is written without holding `_mem`."""
    clone = FolderIndex(idx.uidvalidity, idx.uidnext, idx.highestmodseq)
    clone.generation = idx.generation
    clone.uids, clone.modseqs = idx.uids[:], idx.modseqs[:]
    clone.flag_ids, clone.sizes, clone.dates = idx.flag_ids[:], idx.sizes[:], idx.dates[:]
    clone.tomb_uids, clone.tomb_modseqs = idx.tomb_uids[:], idx.tomb_modseqs[:]
    clone.vanished_floor = idx.vanished_floor
    clone.flagsets = list(idx.flagsets)
    clone.wire = dict(idx.wire)
    return clone


def _uid_summary(uids: list[int], shown: int = 5) -> str:
    """The first few of a list of UIDs for a log line."""
    head = ", ".join(str(u) for u in uids[:shown])
    return head if len(uids) <= shown else f"{head}, ... {uids[-1]}"
