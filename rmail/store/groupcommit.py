"""Group commit of mail appends: why and how several appends to one folder share one sync.

Why it exists: an append is acknowledged only once its message file, its directory and its
journal line are on disk. Syncing each append on its own costs a disk flush per message and,
done under the folder lock, serialises every writer behind the flush. Instead the appends that
arrive while one batch is being written wait, and become the next batch: one rename each, one
journal write for the batch, one sync wave for all of it, so a burst of deliveries pays about
one flush per batch rather than per message, and the folder lock is held for no sync at all.

How (the folder supplies the index and journal half, `rmail.store.folder.Folder`):
- `stage` writes a message to `mail/tmp/` without fsync and parses its meta there, on the
  caller's thread and outside any lock. The file's descriptor stays open (up to
  MAX_OPEN_STAGED per process) so the wave fdatasyncs it without opening it again.
- `Committer.commit` queues a caller's staged messages. One thread at a time leads: it takes
  every message pending at that moment (up to `MAX_BATCH`, never splitting one caller's
  messages, `batch_end`) and calls the folder's `place_batch`, which under the folder lock
  allocates UIDs, renames each file into `msg/` (`place_all`) and appends the batch's journal
  lines unsynced. After the lock is released the leader runs the folder's `sync_wave`
  (`sync_files`: fdatasync the placed files, fsync the touched directories and the journal, in
  parallel on the store's `SyncCrew`), while the next leader (of this or another process)
  already places its batch; concurrent waves meet in one disk flush. Only when its whole wave
  is done is a batch acknowledged.

A crash before that leaves message files with no journal line (never acknowledged: the next
commit overwrites them, `rmail check` removes them), or journal lines, possibly of several
batches (a later writer's journal sync makes earlier lines durable too), whose files are short
or missing: the first open of the folder in each process (`Folder._verify_tail`) checks every
append since the snapshot and drops those. A compaction syncs the journal's message files and
directories before folding them into a snapshot, so a snapshot never holds an entry whose file
is not on disk. Meta records are a cache (rebuilt from the message when missing or torn,
`rmail.store.metalog`), so the folder appends a batch's records to its meta log unsynced while
it places the batch, before the journal line.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

# pure logic, imported once: a function-level import cost 1.4 us on every append
from rmail.mail.headerkeys import header_record
from rmail.mail.parse import parse_message
from rmail.store import fsutil
from rmail.store.errors import InvalidValue
from rmail.store.journal import normalize_flags, wire_size

SYNC_THREADS = 16  # fsyncs of one group-commit wave run in parallel
MAX_BATCH = 256  # messages per group commit; `Folder._verify_tail` looks at least this far back
# Staged files whose descriptor stays open from `stage` until their wave has synced them (no
# second open by path just to fdatasync); past this many in the process, a staged file is
# closed at once and its wave opens it again, so a burst cannot run out of descriptors.
MAX_OPEN_STAGED = 512
_open_slots = threading.BoundedSemaphore(MAX_OPEN_STAGED)


@dataclass(frozen=True, slots=True)
class AppendResult:
    uid: int
    modseq: int


@dataclass(slots=True)
class Pending:
    """A staged message waiting for its batch to be committed."""

    staged: str | Path
    meta: bytes | None
    flags: tuple[str, ...]
    size: int
    date: int
    durable: bool = False  # already on disk (a hard link of a committed message)
    wire: int | None = None  # size with CRLF line ends, when it differs (see FolderIndex.wire)
    group: int = 0  # messages of one `Committer.commit` call share it: committed together
    fd: int = -1  # the staged file, still open for its wave's fdatasync (see `release`)
    header: list[Any] | None = None  # its header-cache record, UID slot filled when placed
    caller: _Caller | None = None  # whose messages these are, while committing
    result: AppendResult | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass(slots=True)
class Wave:
    """What a placed batch still has to sync: its message files, directories and journal."""

    files: list[str] = field(default_factory=list)  # placed files no longer open
    fds: list[int] = field(default_factory=list)  # placed files still open (`Pending.fd`)
    dirs: set[str] = field(default_factory=set)
    journal: int = -1  # descriptor of the journal written to
    uids: list[int] = field(default_factory=list)
    modseq: int = 0  # the batch's last


_stage_counter = itertools.count()
_pid = os.getpid()  # getpid is a system call; a forked child learns its own below
_fork_generation = 0  # bumped in a forked child, which has none of its parent's threads


def _forked() -> None:
    global _pid, _fork_generation
    _pid = os.getpid()
    _fork_generation += 1


os.register_at_fork(after_in_child=_forked)


def staged_name(staging: str | Path) -> str:
    """A fresh name in the staging directory, unique across threads and processes."""
    return f"{staging}/{time.time_ns()}.{_pid}.{next(_stage_counter)}.eml"


def parse_meta(raw: bytes) -> bytes | None:
    """The message's meta record (envelope, body structure, summary), or None when it cannot be
    parsed: a parser bug must never lose a message, and meta is rebuilt on read. Without the
    header-cache record `parse_for_store` adds (4-7 us a message that a rebuild discards)."""
    try:
        return fsutil.dump_json(parse_message(raw))
    except Exception:
        return None


def parse_for_store(raw: bytes) -> tuple[bytes | None, list[Any] | None]:
    """The message's meta record and header-cache record (`rmail.mail.headerkeys`, UID slot
    0), from one parse; (None, None) when it cannot be parsed."""
    try:
        parsed = parse_message(raw)
        return fsutil.dump_json(parsed), header_record(0, parsed)
    except Exception:
        return None, None


def header_of(meta: bytes | None) -> list[Any] | None:
    """The header-cache record (UID slot 0) of a stored meta record, None if it is unreadable."""
    if meta is None:
        return None
    try:
        return header_record(0, orjson.loads(meta))
    except Exception:
        return None


def stage(staging: str, raw: bytes, flags: Iterable[str], internaldate: int | None) -> Pending:
    """Write `raw` to the staging directory, unsynced (the commit wave syncs it), and parse it."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise InvalidValue("message must be bytes")
    data = bytes(raw)
    flagset = normalize_flags(flags)  # bad flags are refused before anything is written
    path = staged_name(staging)
    try:
        fd = os.open(path, _NEW_FILE, 0o644)
    except FileNotFoundError:
        fsutil.ensure_dir(Path(staging))
        fd = os.open(path, _NEW_FILE, 0o644)
    try:
        fsutil.write_all(fd, data)  # unsynced: the commit wave fdatasyncs it
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    if not _open_slots.acquire(blocking=False):  # too many open: the wave opens it again
        os.close(fd)
        fd = -1
    date = int(time.time()) if internaldate is None else int(internaldate)
    wire = wire_size(data)
    meta, header = parse_for_store(data)
    return Pending(path, meta, flagset, len(data), date,
                   wire=wire if wire != len(data) else None, fd=fd, header=header)


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def release(pending: Iterable[Pending]) -> None:
    """Close the staged files still open; called once their batch is done (synced or failed),
    so no wave can be using the descriptor any more."""
    for p in pending:
        if p.fd >= 0:
            fd, p.fd = p.fd, -1
            try:
                os.close(fd)
            finally:
                _open_slots.release()


def discard(pending: Iterable[Pending]) -> None:
    """Remove the staged files of messages that will not be committed."""
    release(pending)
    for p in pending:
        with contextlib.suppress(OSError):
            os.unlink(p.staged)


def fail(batch: list[Pending], exc: BaseException) -> None:
    for p in batch:
        if not p.done:
            p.error, p.done = exc, True


def batch_end(pending: list[Pending]) -> int:
    """How many of the pending messages the next commit takes: up to MAX_BATCH, never
    splitting one caller's messages (`append_many`) over two journal writes."""
    cut = min(len(pending), MAX_BATCH)
    if cut < len(pending) and pending[cut].group == pending[cut - 1].group:
        start = cut - 1
        while start > 0 and pending[start - 1].group == pending[cut].group:
            start -= 1
        if start > 0:
            cut = start
    return cut


class _Caller:
    """One `Committer.commit` call waiting: its messages, and the lock it sleeps on until it
    is asked to lead or its messages are all done (`Committer._wake`)."""

    __slots__ = ("lead", "mine", "signaled", "wake")

    def __init__(self, mine: list[Pending]) -> None:
        self.mine = mine
        self.wake = threading.Lock()
        self.wake.acquire()
        self.signaled = False  # `wake` released and not yet taken
        self.lead = False  # asked to place the next batch


class Committer:
    """One folder's queue of staged messages and the leader/follower protocol over it.

    `place_batch` runs under the folder lock and returns the batch's `Wave`; `sync_wave` runs
    outside it and marks the batch done. Both are the folder's (index and journal).

    Why each caller sleeps on a lock of its own rather than on one condition: a condition's
    `notify_all` wakes every waiting writer on every step, and each must take the GIL again
    just to go back to sleep (under 8 writers that was about two wakeups per append). Here
    a caller is woken once when its messages are done, and the caller whose messages are
    first in the queue is woken to lead when the placing thread is finished with the lock."""

    def __init__(self, place_batch: Callable[[list[Pending]], Wave],
                 sync_wave: Callable[[list[Pending], Wave], None]) -> None:
        self._place_batch = place_batch
        self._sync_wave = sync_wave
        self._lock = threading.Lock()
        self._committing = False  # a thread is placing a batch, or has been asked to
        self._pending: list[Pending] = []

    def commit(self, mine: list[Pending]) -> list[AppendResult]:
        """Group commit: one thread at a time places every message pending at that moment
        (under the folder lock), then syncs its batch outside the lock while the next thread
        already places the next batch; the others sleep and return as soon as their batch is
        durable. Raises the batch's error (and drops its staged files)."""
        try:
            return self._commit(mine)
        finally:
            release(mine)  # done (synced or failed): no wave uses these descriptors now
            for p in mine:
                p.caller = None  # no cycle (message -> caller -> messages) left to collect

    @staticmethod
    def _wake(caller: _Caller) -> None:
        """Wake a sleeping caller (`_lock` held; its state was changed before)."""
        if not caller.signaled:
            caller.signaled = True
            caller.wake.release()

    def _commit(self, mine: list[Pending]) -> list[AppendResult]:
        me = _Caller(mine)
        group = next(_stage_counter)
        for p in mine:
            p.group = group
            p.caller = me
        with self._lock:
            self._pending.extend(mine)
            lead = not self._committing
            self._committing = True
        while True:
            if not lead:
                me.wake.acquire()
                with self._lock:
                    me.signaled = False
                    lead, me.lead = me.lead, False
                if not lead:
                    if all(p.done for p in mine):
                        break
                    continue
            with self._lock:
                cut = batch_end(self._pending)
                batch, self._pending = self._pending[:cut], self._pending[cut:]
            wave: Wave | None = None
            lead = False
            try:
                wave = self._place_batch(batch)
            except BaseException as exc:
                fail(batch, exc)
            finally:
                with self._lock:  # hand the lead to the caller whose messages come next
                    if not self._pending:
                        self._committing = False
                    elif self._pending[0].caller is me:  # more of mine than one batch takes
                        lead = True
                    else:
                        following = self._pending[0].caller
                        assert following is not None  # set by `_commit` before queueing
                        following.lead = True
                        self._wake(following)
            if wave is not None:
                try:
                    self._sync_wave(batch, wave)
                except BaseException as exc:
                    fail(batch, exc)
            with self._lock:
                for caller in {p.caller for p in batch}:
                    if caller is not None and caller is not me \
                            and all(p.done for p in caller.mine):
                        self._wake(caller)
            if not lead and all(p.done for p in mine):
                break
        failed = [p for p in mine if p.error is not None]
        if failed:  # all of the caller's messages share a batch: none was placed for good
            for p in failed:
                with contextlib.suppress(OSError):
                    os.unlink(p.staged)
            raise failed[0].error  # type: ignore[misc]
        return [p.result for p in mine if p.result is not None]


def place_all(batch: list[Pending], uid: int, modseq: int,
              msg_file: Callable[[int], str]) -> tuple[list[dict[str, Any]], Wave]:
    """Under the folder lock: give each message of the batch the next UID and modseq from
    `uid` and `modseq` on, rename it into place and build its journal record. Returns the
    records and the wave still to sync (its journal descriptor is the caller's to set)."""
    records: list[dict[str, Any]] = []
    wave = Wave()
    for p in batch:
        target = msg_file(uid)
        modseq += 1
        place(p.staged, target, wave.dirs)
        if p.fd >= 0:
            wave.fds.append(p.fd)
        elif not p.durable:
            wave.files.append(target)
        records.append({"op": "append", "modseq": modseq, "uid": uid,
                        "flags": list(p.flags), "size": p.size, "date": p.date})
        if p.wire is not None:
            records[-1]["wire"] = p.wire
        p.result = AppendResult(uid, modseq)
        wave.uids.append(uid)
        uid += 1
    wave.modseq = modseq
    return records, wave


def place(staged: str | Path, target: str, dirs: set[str]) -> None:
    """Rename a staged message into place. A file already there was left by a commit
    that crashed before its journal sync (never acknowledged): the rename replaces it."""
    bucket = os.path.dirname(target)
    try:
        os.rename(staged, target)
    except FileNotFoundError:
        if not os.path.exists(staged):
            raise
        if fsutil.ensure_dir(Path(bucket)):  # first message of a bucket
            dirs.add(os.path.dirname(bucket))
            dirs.add(os.path.dirname(os.path.dirname(bucket)))
        os.rename(staged, target)
    dirs.add(bucket)


def sync_files(crew: SyncCrew, wave: Wave) -> None:
    """Outside the lock, one sync wave: fdatasync the placed message files (through the
    descriptors still open from staging, the rest by path), fsync the touched directories and
    the journal (whose descriptor it closes), all at once."""
    calls: list[tuple[Callable[[Any], None], Any]] = [(os.fdatasync, fd) for fd in wave.fds]
    calls += [(fdatasync_path, f) for f in wave.files]
    calls += [(fsutil.fsync_dir, d) for d in wave.dirs]
    try:
        crew.run(calls, os.fdatasync, wave.journal)
    finally:
        os.close(wave.journal)


class _Countdown:
    """The part of one `SyncCrew.run` still running; `done` is released by the last."""

    __slots__ = ("done", "error", "left", "lock")

    def __init__(self, left: int) -> None:
        self.left = left
        self.lock = threading.Lock()
        self.done = threading.Lock()
        self.done.acquire()
        self.error: BaseException | None = None


class SyncCrew:
    """Threads that run the syncs of commit waves, each blocked in its own `fdatasync` or
    `fsync`, so a wave's flushes reach the disk together.

    Why not the ThreadPoolExecutor: a future, a waiter and their conditions per file cost more
    interpreter time than the sync itself (py-spy: half of a delivery batch's GIL time went to
    `submit`, `set_result` and `wait`). Here a call is one C-level queue put, and the wave
    waits on one lock that the last of its calls releases. Threads start on first use (again in
    a forked child, which inherits none) and idle in `SimpleQueue.get`; `close` stops them."""

    def __init__(self, threads: int, name: str = "rmail-fsync") -> None:
        self._size = threads
        self._name = name
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Callable[[Any], None], Any, _Countdown] | None] \
            = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._generation = -1
        self._closed = False

    def _start(self) -> None:
        with self._lock:
            if self._generation == _fork_generation:
                return
            if self._closed:
                raise RuntimeError("sync crew is closed")
            self._queue = queue.SimpleQueue()
            self._threads = [threading.Thread(target=self._work, args=(self._queue,),
                                              name=f"{self._name}-{i}", daemon=True)
                             for i in range(self._size)]
            for t in self._threads:
                t.start()
            self._generation = _fork_generation

    @staticmethod
    def _work(q: queue.SimpleQueue[tuple[Callable[[Any], None], Any, _Countdown] | None]
              ) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            fn, arg, countdown = item
            try:
                fn(arg)
            except BaseException as exc:
                if countdown.error is None:
                    countdown.error = exc
            with countdown.lock:
                countdown.left -= 1
                last = countdown.left == 0
            if last:
                countdown.done.release()

    def run(self, calls: list[tuple[Callable[[Any], None], Any]],
            own: Callable[[Any], None], arg: Any) -> None:
        """Run every `fn(arg)` of `calls` on the crew and `own(arg)` on this thread, all at
        once; return when all are done, raising the first failure."""
        if calls and self._generation != _fork_generation:
            self._start()
        countdown = _Countdown(len(calls))
        q = self._queue
        for fn, a in calls:
            q.put((fn, a, countdown))
        try:
            own(arg)
        finally:
            if calls:
                countdown.done.acquire()  # even when ours failed: theirs use our descriptors
        if countdown.error is not None:
            raise countdown.error

    def close(self) -> None:
        """Stop the threads once they finished what was queued."""
        with self._lock:
            self._closed = True
            threads, self._threads = self._threads, []
            running, self._generation = self._generation, -1  # `run` now refuses work
            if running == _fork_generation:
                for _ in threads:
                    self._queue.put(None)
        for t in threads:
            if t.is_alive() and t is not threading.current_thread():
                t.join()


def fdatasync_path(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def fdatasync_paths(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            fdatasync_path(path)
