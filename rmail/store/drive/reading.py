"""Opening a drive file for reading: the bytes on disk must be the ones the index describes
(same size and mtime), symlinks are never followed, and small files are answered from memory
while their directory index is unchanged (`small_files`), cheap enough for an event loop."""

from __future__ import annotations

import os
import stat
import time
from typing import IO, cast

from rmail.store.drive.entries import Entry
from rmail.store.drive.index import DriveIndex
from rmail.store.drive.paths import DrivePath
from rmail.store.errors import Conflict, NotFound
from rmail.store.layout import DriveLayout
from rmail.store.smallfiles import small_files

__all__ = ["open_file", "open_matching", "peek_open", "peek_small"]


def open_matching(index: DriveIndex, entry: Entry) -> IO[bytes] | None:
    """The file of `entry` opened, or None when what is on disk is not (yet) what the index
    describes (an overwrite between reading the index and opening)."""
    disk = os.path.join(index.files_dir, *entry.path.parts)
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


def open_file(index: DriveIndex, path: DrivePath) -> tuple[Entry, IO[bytes]]:
    """Open a file for reading; the entry matches the bytes (a concurrent overwrite is
    retried). The caller closes the file."""
    for _ in range(5):
        entry = index.stat(path)
        if entry.is_dir:
            raise Conflict(f"{path} is a directory")
        fobj = open_matching(index, entry)
        if fobj is not None:
            return entry, fobj
        time.sleep(0.001)
    raise Conflict(f"{path} is changing; try again")


def peek_open(index: DriveIndex, path: DrivePath) -> tuple[Entry, IO[bytes]] | None:
    """`open_file` for an event loop: None when the index is not in memory, the path is a
    directory, or the file is being replaced (the caller then uses `open_file` in a thread)."""
    entry = index.peek(path)
    if entry is None or entry.is_dir:
        return None
    fobj = open_matching(index, entry)
    return None if fobj is None else (entry, fobj)


def peek_small(index: DriveIndex, path: DrivePath) -> tuple[Entry, bytes] | None:
    """A small file's entry and bytes for an event loop: from `small_files` while its
    directory index is unchanged (one `stat`), else read once and remembered. None when
    `peek_open` (or a worker thread) must answer."""
    if path.is_root:
        return None
    key = (index.files_dir, path.parts)
    hit = small_files.get(key)
    if hit is not None:
        record, body = hit
        index_path, index_id, commits, entry = cast(
            tuple[str, tuple[int, int, int], int, Entry], record)
        try:
            st = os.stat(index_path, follow_symlinks=False)
        except OSError:
            st = None
        if st is not None and commits == index.commits and \
                (st.st_ino, st.st_mtime_ns, st.st_size) == index_id:
            return entry, body
        small_files.discard(key)
    return _read_small(index, path, key)


def _read_small(index: DriveIndex, path: DrivePath, key: tuple[str, tuple[str, ...]]
                ) -> tuple[Entry, bytes] | None:
    commits = index.commits  # read first: a commit racing with us makes the record stale
    index_path = os.path.join(index.files_dir, *path.parent.parts, DriveLayout.INDEX)
    try:
        before = os.stat(index_path, follow_symlinks=False)
    except OSError:  # missing, or a file where a directory was expected: the slow path
        return None  # gives the proper answer
    entry = index.peek(path)
    if entry is None or entry.is_dir or entry.size > small_files.max_body:
        return None
    fobj = open_matching(index, entry)
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
