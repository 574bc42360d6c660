"""Tree operations inside one commit: the disk side of a write, always paired with the index
change that describes it (`Txn`). Every function here runs under the drive lock, and calls
`txn.mark()` before it changes anything on disk, so recovery can finish what a crash cut off.

Bytes that take time (an upload, the copy of a tree) are prepared in `tmp/` before the lock is
taken; under the lock they are only renamed into place. What leaves the tree (a delete, an
overwritten destination) is renamed into `tmp/` under the lock and removed after it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from rmail.store import fsutil
from rmail.store.drive.entries import DIR, FILE, Entry, Quota
from rmail.store.drive.index import INDEX_VERSION, DriveIndex, Txn, new_index
from rmail.store.drive.paths import DrivePath
from rmail.store.drive.upload import Upload
from rmail.store.errors import Conflict, QuotaExceeded
from rmail.store.layout import DriveLayout

__all__ = ["build_copy", "check_unclaimed", "create_dir", "ensure_parents", "rename_index",
           "staged_name", "trash", "unlink_quiet"]


def staged_name(index: DriveIndex, what: str) -> Path:
    """A fresh name in tmp/ that says which process made it (for the sweep of dead ones)."""
    return index.layout.tmp / f"{what}.{os.getpid()}.{secrets.token_hex(8)}"


def unlink_quiet(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def trash(txn: Txn, disk: Path) -> None:
    """Move `disk` out of the tree now; delete it after the lock is released."""
    dest = staged_name(txn.index, "trash")
    txn.mark()
    os.rename(disk, dest)
    if dest.is_dir():
        txn.after.append(lambda: fsutil.remove_tree(dest))
    else:
        txn.after.append(lambda: unlink_quiet(dest))


def check_unclaimed(index: DriveIndex, path: DrivePath) -> None:
    """Refuse to write over something on disk that the index does not know (a planted
    symlink, a file copied in by hand): `repair()` decides what it is, never a write."""
    try:
        os.lstat(index.disk(path))
    except FileNotFoundError:
        return
    raise Conflict(f"{path} is in the way on disk but not in the drive's index")


def create_dir(txn: Txn, parent: DrivePath, name: str,
               props: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Make `parent/name` (the parent exists) with an empty index; returns its record."""
    index = txn.index
    check_unclaimed(index, parent.child(name))
    staged = staged_name(index, "mkdir")
    staged.mkdir()
    fsutil.write_json(staged / DriveLayout.INDEX, new_index(name, txn.now))
    txn.mark()
    os.rename(staged, index.disk(parent) / name)
    rec: dict[str, Any] = {"type": DIR, "mtime": txn.now, "created": txn.now}
    if props:
        rec["props"] = dict(props)
    txn.add_child(parent, name, rec)
    return rec


def ensure_parents(txn: Txn, d: DrivePath, *, create: bool) -> list[DrivePath]:
    """Make sure directory `d` exists, creating the missing ones when `create` (else
    Conflict: WebDAV's 409). Returns the directories it created."""
    made = []
    for i in range(1, d.depth + 1):
        parent = DrivePath(d.parts[: i - 1])
        name = d.parts[i - 1]
        rec = txn.doc(parent)["children"].get(name)
        if rec is None:
            if not create:
                raise Conflict(f"parent directory {DrivePath(d.parts[:i])} does not exist")
            create_dir(txn, parent, name)
            made.append(DrivePath(d.parts[:i]))
        elif rec.get("type") != DIR:
            raise Conflict(f"{DrivePath(d.parts[:i])} is a file, not a directory")
    return made


def rename_index(disk: Path, name: str) -> None:
    """A moved directory's own index carries its new name."""
    path = disk / DriveLayout.INDEX
    try:
        doc = fsutil.read_json(path, version=INDEX_VERSION)
    except FileNotFoundError:
        return
    doc["name"] = name
    fsutil.write_json(path, doc)


def build_copy(index: DriveIndex, entry: Entry, staged: Path, *, recursive: bool,
               quota: Quota | None,
               open_file: Any) -> tuple[dict[str, Any], tuple[int, int, int]]:
    """Copy `entry` to `staged` (in tmp/, no lock held); returns its record and what it holds.
    `open_file(path) -> (Entry, IO[bytes])` reads a file of the drive safely."""
    now = time.time()
    if not entry.is_dir:
        f: IO[bytes]
        _, f = open_file(entry.path)
        with f:
            up = Upload(staged, None)
            try:
                up.write_from(f)
                up.finish()
            except BaseException:
                up.abort()
                raise
            up.mark_committed()
        mtime = os.stat(staged, follow_symlinks=False).st_mtime
        rec: dict[str, Any] = {"type": FILE, "size": up.size, "etag": up.etag,
                               "mtime": mtime, "created": mtime,
                               "content_type": entry.content_type}
        if entry.props:
            rec["props"] = dict(entry.props)
        return rec, (1, 0, up.size)
    staged.mkdir()
    try:
        doc = new_index(entry.name, now)
        totals = [0, 0, 0]
        if recursive:
            info = index.listdir(entry.path)
            for child in info.children:
                crec, held = build_copy(index, child, staged / child.name, recursive=True,
                                        quota=quota, open_file=open_file)
                doc["children"][child.name] = crec
                if child.is_dir:
                    doc["self_dirs"] += 1
                else:
                    doc["self_files"] += 1
                    doc["self_bytes"] += held[2]
                totals = [totals[i] + held[i] for i in range(3)]
                if quota is not None and totals[2] + index.usage_bytes() + \
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
