"""Per-user file storage ("drive"): plain files plus one JSON index per directory.

Disk layout (`rmail.store.layout.DriveLayout`):

```
drive/
  _meta.json         {"version", "ctag", "sync_token", "total_files", "total_dirs",
                      "total_bytes", "pending"}
  _locks.json        WebDAV locks (`locks`)           _shares.json   the owner's share UIDs
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

`self_*` count the children of one directory, `total_*` everything below it (a directory does
not count itself). Every write adjusts the changed directory and each ancestor up to the root
in the same commit, so any directory's totals cost one read. ETags are the first 32 hex digits
of the content's SHA-256. WebDAV dead properties live in the parent's entry for the resource
(so they move, copy and vanish with it); the root keeps its own in its index.

The package, one job per module:
- `paths`     `DrivePath` and the name gate (`check_name`)
- `entries`   `Entry`, `DirInfo`, `Quota`: what readers get
- `upload`    `Upload`: bytes staged in tmp/, hashed as they arrive
- `index`     `DriveIndex`: the directory indexes, their cache, the commit and recovery
- `tree`      the disk side of a commit (create, trash, copy into tmp/)
- `rules`     `Rules`: what a write must satisfy (tokens, share, quota, preconditions)
- `locks`     WebDAV lock records; `shares` public share links
- `userdrive` `UserDrive`: every read, and every write as ONE call checked under the lock
- `store`     `DriveStore`: one per process, hands out drives, owns the share records

Lock rules (STYLE.md #7):
- Every write takes `files/_index.lock` (`fsutil.locked`, flock + thread lock) and holds it
  while it checks the write's `Rules` and rewrites indexes and `_meta.json`. The manual draws
  one lock at the root, and it is the right grain: since totals propagate to the root on every
  write, each writer must hold the root index anyway.
- Order: `files/_index.lock`, then `_locks.lock` (a LOCK is granted under the drive lock), then
  `_shares.lock` (a share is changed or revoked under the drive lock). So a lock granted, or a
  share revoked, is either seen by a write's check or comes after its commit.
- Bytes are staged in `tmp/` with no lock held (`Upload`): only the rename and the index
  updates run under the lock. The store is synchronous: callers run it in a worker thread.
- Readers never lock: index files change only by atomic rename.

Crash safety: a commit first writes `_meta.json` with `"pending"` naming the directories whose
membership it changes, then renames data into place, rewrites indexes deepest first, and
finally writes `_meta.json` without `"pending"`. The next writer (or the first reader of this
process) that finds `"pending"` while holding the lock rebuilds those directories' indexes from
disk and recomputes totals up to the root, so a `kill -9` at any instant leaves exact totals and
never a partial file (a partial upload only ever lived in tmp/, swept of dead processes' files).

Untrusted input: every name passes `check_name`. On disk, symbolic links are never followed:
directories are checked with `lstat` on the way down and files are opened with `O_NOFOLLOW`.
"""

from __future__ import annotations

from rmail.store.drive.entries import DIR, FILE, DirInfo, Entry, Quota, etag_of_digest, guess_type
from rmail.store.drive.locks import DavLock, LockConflict, LockStore
from rmail.store.drive.paths import MAX_DEPTH, ROOT, DrivePath, check_name
from rmail.store.drive.rules import OWNER, IsDirectory, Locked, Rules, WriteRefused
from rmail.store.drive.shares import Share, ShareStore
from rmail.store.drive.store import DriveStore
from rmail.store.drive.upload import Upload
from rmail.store.drive.userdrive import UserDrive

__all__ = [
    "DIR",
    "FILE",
    "MAX_DEPTH",
    "OWNER",
    "ROOT",
    "DavLock",
    "DirInfo",
    "DrivePath",
    "DriveStore",
    "Entry",
    "IsDirectory",
    "LockConflict",
    "LockStore",
    "Locked",
    "Quota",
    "Rules",
    "Share",
    "ShareStore",
    "Upload",
    "UserDrive",
    "WriteRefused",
    "check_name",
    "etag_of_digest",
    "guess_type",
]
