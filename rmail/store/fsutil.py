"""Durable file primitives: the one place that knows how to write a file so a crash can't tear it.

Lock rules (STYLE.md #7):
- Every writer of a shared file holds `locked(sidecar)`: a per-path `threading.Lock` (so threads of
  this process queue cheaply) and then `fcntl.flock` on the sidecar (so another process, e.g. the
  CLI while the server runs, waits too). `alocked()` is the same for coroutines: it queues on an
  `asyncio.Lock` first, so two coroutines never block the event loop on one flock.
- Readers never lock: files only change by atomic rename or by append.
- Never do network I/O while holding a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import json
import os
import threading
import unicodedata
import weakref
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson

from rmail.store.errors import CorruptStore, UnsafeName

_TMP_SUFFIX = ".tmp"


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or a new directory entry in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: str | os.PathLike[str]) -> None:
    """Make everything written to the filesystem holding `path` durable in one call (Linux
    `syncfs(2)`): cheaper than one `fdatasync` per file when a batch wrote many files."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _LIBC is None or _LIBC.syncfs(fd) != 0:
            os.sync()  # no syncfs here (or it failed): the whole-system flush is still correct
    finally:
        os.close(fd)


def start_writeback(fd: int, offset: int = 0, length: int = 0) -> None:
    """Queue a written range (0 = to the end) for writing to disk and return without waiting
    (Linux `sync_file_range(2)` with SYNC_FILE_RANGE_WRITE): no journal commit and no wait,
    so a large file being received reaches the disk while it arrives and its final
    `fdatasync` finds little left. Durability still comes only from that `fdatasync`; where
    the call is missing (or the filesystem does not support it) this does nothing."""
    call = getattr(_LIBC, "sync_file_range", None)
    if call is not None and call(fd, offset, length, _SYNC_FILE_RANGE_WRITE) != 0:
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ESPIPE, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err))


_SYNC_FILE_RANGE_WRITE = 2


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syncfs.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        return None
    # A libc without sync_file_range (not glibc/musl on Linux) raises AttributeError here;
    # safe to ignore: `start_writeback` looks the symbol up again and then does nothing.
    with contextlib.suppress(AttributeError):
        libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64,
                                         ctypes.c_uint]
    return libc


_LIBC = _load_libc()


def tmp_name(path: Path) -> Path:
    """A temp name beside `path` (same directory, so the rename is atomic) that no other writer
    in this or another process uses."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}{_TMP_SUFFIX}")


def atomic_write(path: str | os.PathLike[str], data: bytes, *, durable: bool = True,
                 mode: int = 0o644) -> None:
    """Replace `path` with `data` so readers see the old or the new content, never a mix.

    `durable=False` skips both fsyncs: for caches that can be rebuilt from other files (a crash
    may then leave the old content, or an empty file that the reader must treat as missing).
    """
    target = Path(path)
    tmp = tmp_name(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        write_all(fd, data)
        if durable:
            os.fdatasync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, target)
    if durable:
        fsync_dir(target.parent)


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """Write all of `data` at `offset`, by position (the appends of the meta log and the
    header cache, whose writers know where the file ends)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def cut_torn_line(fd: int, size: int, floor: int) -> int:
    """Where an append-only file of lines ends once a torn last line (a crash mid-append) is
    cut off, never before `floor` (the end of its checked header line): the writers of the
    meta log and the header cache call it when another process wrote since their last
    append. One `pread` when the file ends with a newline."""
    if size > floor and os.pread(fd, 1, size - 1) == b"\n":
        return size
    pos = size
    while pos > floor:
        start = max(floor, pos - (1 << 16))
        i = os.pread(fd, pos - start, start).rfind(b"\n")
        if i >= 0:
            pos = start + i + 1
            break
        pos = start
    if pos < size:
        os.ftruncate(fd, pos)
    return pos


def read_from(fd: int, offset: int) -> bytes:
    """Everything in the file from `offset` to its end, by position: no seek and no open,
    for a descriptor kept open between reads of an append-only file."""
    chunks: list[bytes] = []
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def open_inode(path: str, ino: int) -> int:
    """A read-write descriptor of `path` if it still is inode `ino`, else -1 (missing, or
    replaced by a rename since it was stat'ed): how the append-only caches (header cache, meta
    log) reopen the file whose inode their in-memory copy describes."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return -1
    if os.fstat(fd).st_ino != ino:
        os.close(fd)
        return -1
    return fd


def read_file(path: str | os.PathLike[str], size: int) -> bytes:
    """The whole of a regular file whose size is about ``size`` bytes: open, read and close,
    three system calls (Python's `open` adds a `fstat`, an `ioctl`, two `lseek`s and a read at
    the end of the file, and its buffered object: about twice the CPU for a small file, which
    the search indexer pays per delivered message). A regular file's short read is its end."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, size + 1)
        if len(data) <= size:
            return data
        chunks = [data]
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_new_file(path: str | Path, data: bytes, *, durable: bool = True) -> None:
    """Write a file that must not exist yet (O_EXCL); the caller makes its directory entry durable
    (one `fsync_dir` for a whole batch is how group commit saves fsyncs)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        write_all(fd, data)
        if durable:
            os.fdatasync(fd)
    finally:
        os.close(fd)


def append_durable(path: str | Path, data: bytes) -> int:
    """Append `data` to `path` and fsync; returns the file size afterwards."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        write_all(fd, data)
        os.fdatasync(fd)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def read_json(path: str | os.PathLike[str], *, version: int | None = None) -> Any:
    """Read a JSON document; a newer `"version"` than we understand fails loudly (STYLE.md #8)."""
    try:
        with open(path, "rb") as f:
            data = orjson.loads(f.read())
    except orjson.JSONDecodeError as exc:  # a json.JSONDecodeError too
        raise CorruptStore(f"{path}: not valid JSON ({exc})") from exc
    if version is not None and isinstance(data, dict):
        found = data.get("version", 1)
        if not isinstance(found, int) or found > version:
            raise CorruptStore(f"{path}: format version {found!r} is newer than {version}")
    return data


def dump_json(data: Any) -> bytes:
    """Compact, UTF-8, deterministic key order: small files that diff well.

    orjson writes the same bytes as `json.dumps(..., ensure_ascii=False, separators=(",",
    ":"), sort_keys=True)` about fifteen times faster (a drive directory index with 2,000
    entries: 0.5 ms instead of 7 ms, paid on every write into that directory); what it
    refuses (integers beyond 64 bits, non-string keys) goes the standard library's way."""
    try:
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True).encode()


def write_json(path: str | os.PathLike[str], data: Any, *, durable: bool = True) -> None:
    atomic_write(path, dump_json(data), durable=durable)


def ensure_dir(path: Path) -> bool:
    """Create `path` (and parents); returns True when something was created, so the caller knows
    a parent directory needs an fsync."""
    if path.is_dir():
        return False
    path.mkdir(parents=True, exist_ok=True)
    return True


# ---------------------------------------------------------------------------------------------
# Locks

_thread_locks: weakref.WeakValueDictionary[str, _PathLock] = weakref.WeakValueDictionary()
_thread_locks_guard = threading.Lock()
_async_locks: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)


class _PathLock:
    """A threading lock for one lock path; held in a weak map so idle paths cost nothing."""

    __slots__ = ("__weakref__", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()


def _path_lock(key: str) -> _PathLock:
    with _thread_locks_guard:
        pl = _thread_locks.get(key)
        if pl is None:
            pl = _PathLock()
            _thread_locks[key] = pl
        return pl


def _flock(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                return fd
            except InterruptedError:
                continue
    except BaseException:
        os.close(fd)
        raise


def _unflock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def try_flock(lock_path: str | os.PathLike[str]) -> int | None:
    """A held exclusive flock on `lock_path` (a file descriptor; close it to release), or None
    when someone else holds it. Never waits. Two descriptors conflict even in one process, and
    the kernel releases the lock when its holder dies."""
    fd = os.open(os.fspath(lock_path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def locked(lock_path: str | os.PathLike[str]) -> Iterator[None]:
    """Exclusive lock on `lock_path` against other threads and other processes."""
    key = os.fspath(lock_path)
    pl = _path_lock(key)
    with pl.lock:
        fd = _flock(key)
        try:
            yield
        finally:
            _unflock(fd)


@contextlib.contextmanager
def try_locked(lock_path: str | os.PathLike[str]) -> Iterator[bool]:
    """`locked()` without waiting: yields True holding the lock, False when another thread or
    process holds it (then nothing is held)."""
    key = os.fspath(lock_path)
    pl = _path_lock(key)
    if not pl.lock.acquire(blocking=False):
        yield False
        return
    try:
        fd = try_flock(key)
        if fd is None:
            yield False
            return
        try:
            yield True
        finally:
            _unflock(fd)
    finally:
        pl.lock.release()


@contextlib.asynccontextmanager
async def alocked(lock_path: str | os.PathLike[str]) -> AsyncIterator[None]:
    """`locked()` for coroutines: queue on an asyncio.Lock, then take the thread lock and the
    flock in a worker thread so a lock held by another process never blocks the event loop."""
    key = os.fspath(lock_path)
    loop = asyncio.get_running_loop()
    akey = (id(loop), key)
    alock = _async_locks.get(akey)
    if alock is None:
        alock = asyncio.Lock()
        _async_locks[akey] = alock
    async with alock:
        pl = _path_lock(key)
        # The worker thread cannot be interrupted: if we are cancelled while it waits, whoever
        # of the two comes second (under `guard`) releases the lock the worker got.
        guard = threading.Lock()
        handoff: dict[str, int] = {}
        abandoned: list[bool] = []

        def acquire() -> None:
            pl.lock.acquire()
            try:
                got = _flock(key)
            except BaseException:
                pl.lock.release()
                raise
            with guard:
                if not abandoned:
                    handoff["fd"] = got
                    return
            _unflock(got)
            pl.lock.release()

        try:
            await asyncio.to_thread(acquire)
        except BaseException:
            with guard:
                abandoned.append(True)
                late = handoff.pop("fd", None)
            if late is not None:
                _unflock(late)
                pl.lock.release()
            raise
        fd = handoff.pop("fd")
        try:
            yield
        finally:
            try:
                _unflock(fd)
            finally:
                pl.lock.release()


# ---------------------------------------------------------------------------------------------
# Names

MAX_COMPONENT_BYTES = 255


def check_component(name: str, *, what: str = "name", reserved_prefix: str | None = None,
                    forbidden: tuple[str, ...] = ()) -> str:
    """The one gate for a single path component that reaches the filesystem (STYLE.md #6).

    Rejects empty names, `.`/`..`, separators, NUL and other control characters, over-long names
    and (optionally) names starting with a reserved prefix or containing any of the `forbidden`
    substrings (the drive forbids ".." anywhere in a name). Returns the name unchanged.
    """
    if not isinstance(name, str) or not name:
        raise UnsafeName(f"{what} is empty")
    if name in (".", ".."):
        raise UnsafeName(f"{what} {name!r} is not allowed")
    for bad in forbidden:
        if bad in name:
            raise UnsafeName(f"{what} {name!r} contains {bad!r}")
    if "/" in name or "\\" in name:
        raise UnsafeName(f"{what} {name!r} contains a path separator")
    if not name.isprintable():  # printable names (nearly all) have no Cc/Cs characters
        for ch in name:
            if ord(ch) < 0x20 or ord(ch) == 0x7F or unicodedata.category(ch) in ("Cc", "Cs"):
                raise UnsafeName(f"{what} {name!r} contains a control character")
    if name.endswith(_TMP_SUFFIX):
        raise UnsafeName(f"{what} {name!r} uses the reserved suffix {_TMP_SUFFIX}")
    if reserved_prefix and name.startswith(reserved_prefix):
        raise UnsafeName(f"{what} {name!r} starts with the reserved {reserved_prefix!r}")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnsafeName(f"{what} is not valid Unicode") from exc
    if len(encoded) > MAX_COMPONENT_BYTES:
        raise UnsafeName(f"{what} is longer than {MAX_COMPONENT_BYTES} bytes")
    return name


def remove_tree(path: Path) -> None:
    """Delete a directory tree without following symlinks out of it."""
    import shutil

    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
