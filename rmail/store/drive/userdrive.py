"""One user's drive: reads straight from the directory index, and writes that are each ONE
call which checks everything under the drive lock.

Every write (`write`, `mkdir`, `delete`, `move`, `copy`, `set_props`, `lock`) takes a `Rules`
and, while it holds the drive lock, checks in this order: the target's current state (If-Match,
If-None-Match, file vs directory), the share link's live permissions and subtree, the WebDAV
lock tokens, the quota; only then does it change the tree. `begin_write` runs the same checks
early and without the lock, so a refused upload is refused before its body is read; the commit
checks them again, because a LOCK, a revocation or another write may come in between.

All methods are synchronous (they fsync): callers on an event loop run them in a thread, one
hop per operation. `peek`, `peek_open` and `peek_small` are the exceptions, cheap enough for
a loop.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from rmail.store import fsutil
from rmail.store.drive import reading
from rmail.store.drive.entries import DirInfo, Entry, Quota, entry_of, guess_type
from rmail.store.drive.index import DriveIndex, Txn
from rmail.store.drive.locks import DEFAULT_TIMEOUT, DavLock, LockStore
from rmail.store.drive.paths import ROOT, DrivePath
from rmail.store.drive.rules import (
    OWNER,
    IsDirectory,
    Rules,
    WriteRefused,
    check_preconditions,
    check_tokens,
)
from rmail.store.drive.shares import Share, ShareStore
from rmail.store.drive.tree import (
    build_copy,
    check_unclaimed,
    create_dir,
    ensure_parents,
    rename_index,
    staged_name,
    trash,
    unlink_quiet,
)
from rmail.store.drive.upload import Upload
from rmail.store.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    PreconditionFailed,
    QuotaExceeded,
)
from rmail.store.layout import DriveLayout

__all__ = ["UserDrive"]

Source = Iterable[bytes] | IO[bytes] | bytes


class UserDrive:
    """One user's drive (see the module docstring)."""

    def __init__(self, drive_dir: Path, domain: str = "", username: str = "",
                 shares: ShareStore | None = None) -> None:
        self.layout = DriveLayout(drive_dir)
        self.domain = domain
        self.username = username
        self.index = DriveIndex(self.layout)
        self.locks = LockStore(drive_dir)
        self.shares = shares
        self._opened = False
        self._open_lock = threading.Lock()

    # -- opening ------------------------------------------------------------------------------
    @property
    def opened(self) -> bool:
        return self._opened

    def open(self) -> None:
        """Create the drive on first use; once per process, finish a dead writer's commit and
        sweep its staged files."""
        if self._opened:
            return
        with self._open_lock:
            if self._opened:
                return
            fsutil.ensure_dir(self.layout.tmp)
            self.index.create()
            self._sweep_tmp()
            if self.index.meta().get("pending"):
                with fsutil.locked(self.layout.lock):
                    self.index.recover_locked()
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
                unlink_quiet(path)

    def repair(self) -> None:
        """Rebuild every index from the files on disk (`rmail check`, hand-copied files)."""
        self.open()
        self.index.repair()

    # -- reading ------------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """`_meta.json`: ctag, sync_token and the drive's totals."""
        return self.index.meta()

    def stat(self, path: DrivePath) -> Entry:
        """The entry at `path` (the root included); NotFound when missing."""
        return self.index.stat(path)

    def peek(self, path: DrivePath) -> Entry | None:
        """`stat` from memory only, for an event loop (None: ask `stat` in a thread)."""
        return self.index.peek(path)

    def exists(self, path: DrivePath) -> bool:
        try:
            self.index.stat(path)
        except NotFound:
            return False
        return True

    def listdir(self, path: DrivePath, *, offset: int = 0,
                limit: int | None = None) -> DirInfo:
        return self.index.listdir(path, offset=offset, limit=limit)

    def counters(self, path: DrivePath = ROOT) -> dict[str, int]:
        return self.index.counters(path)

    def usage_bytes(self) -> int:
        return self.index.usage_bytes()

    def walk(self, path: DrivePath, depth: int | None) -> Iterator[Entry]:
        """`path` and what lies below it, parents before children, `depth` levels deep
        (None: all)."""
        top = self.index.stat(path)
        yield top
        if not top.is_dir or depth == 0:
            return
        queue: list[tuple[DrivePath, int]] = [(path, 1)]
        while queue:
            d, level = queue.pop(0)
            try:
                info = self.index.listdir(d)
            except (NotFound, Conflict):
                continue
            for child in info.children:
                yield child
                if child.is_dir and (depth is None or level < depth):
                    queue.append((child.path, level + 1))

    def open_file(self, path: DrivePath) -> tuple[Entry, IO[bytes]]:
        return reading.open_file(self.index, path)

    def peek_open(self, path: DrivePath) -> tuple[Entry, IO[bytes]] | None:
        return reading.peek_open(self.index, path)

    def peek_small(self, path: DrivePath) -> tuple[Entry, bytes] | None:
        return reading.peek_small(self.index, path)

    # -- the checks every write makes ---------------------------------------------------------
    def _share(self, rules: Rules) -> Share | None:
        """The live record of the share link the write comes through (NotFound when it was
        revoked or has expired since the request was resolved)."""
        if rules.share is None:
            return None
        if self.shares is None:
            raise WriteRefused("share links are not available here")
        share = self.shares.resolve(rules.share)
        if (share.domain, share.username) != (self.domain, self.username):
            raise NotFound("no such share")
        return share

    def _permit(self, rules: Rules, path: DrivePath, letter: str | None,
                what: str) -> Share | None:
        """Share rights: `path` inside the shared subtree and `letter` granted (None: no
        share link may do this at all). Returns the live share (None: the owner)."""
        share = self._share(rules)
        _grant(share, path, letter, what)
        return share

    def _tokens(self, rules: Rules, path: DrivePath, *, member_change: bool = True,
                recursive: bool = False) -> None:
        locks = self.locks.active()
        if locks:
            check_tokens(locks, rules.tokens, path, member_change=member_change,
                         recursive=recursive)

    @staticmethod
    def _quota(txn: Txn, quota: Quota | None, adding: int) -> None:
        if quota is None or adding <= 0:
            return
        if txn.usage() + quota.other_bytes + adding > quota.limit_bytes:
            raise QuotaExceeded(f"quota of {quota.limit_bytes} bytes exceeded")

    # -- files --------------------------------------------------------------------------------
    def begin_write(self, path: DrivePath, *, rules: Rules = OWNER, length: int | None = None,
                    form_upload: bool = False, staged: int = 0) -> Upload:
        """Check a write early (no lock held, before any byte is read) and stage its upload in
        tmp/, limited to what the quota allows. `length`: the size when known; `staged`: bytes
        of the same batch already staged (`write_many`), counted against the quota."""
        if path.is_root:
            raise Conflict("cannot write the drive root")
        self.open()
        try:
            old: Entry | None = self.index.stat(path)
        except NotFound:
            old = None
        if old is not None and old.is_dir:
            raise IsDirectory(f"{path} is a directory")
        check_preconditions(path, old, rules)
        self._permit_file(rules, path, old, form_upload)
        self._tokens(rules, path)
        allowance = None
        if rules.quota is not None:
            reclaim = old.size if old is not None else 0
            allowance = max(0, rules.quota.limit_bytes - rules.quota.other_bytes
                            - self.index.usage_bytes() - staged + reclaim)
            if length is not None and length > allowance:
                raise QuotaExceeded(f"quota of {rules.quota.limit_bytes} bytes exceeded")
        return Upload(staged_name(self.index, "upload"), allowance)

    def check_room(self, length: int, quota: Quota, base: DrivePath = ROOT) -> None:
        """Refuse (QuotaExceeded) a multipart upload into `base` whose body of `length` bytes
        cannot fit, before any of it is read. Never refuses one that could: whatever it
        overwrites lies below `base` (at most its total bytes), and the multipart framing
        (part headers, boundaries) is granted generously."""
        framing = 4 * 1024 * 1024 + length // 100
        free = quota.limit_bytes - quota.other_bytes - self.index.usage_bytes()
        try:
            reclaim = self.index.counters(base)["total_bytes"]
        except (NotFound, Conflict):
            reclaim = 0
        if length - framing > free + reclaim:
            raise QuotaExceeded(f"quota of {quota.limit_bytes} bytes exceeded")

    def _permit_file(self, rules: Rules, path: DrivePath, old: Entry | None,
                     form_upload: bool) -> None:
        self._permit(rules, path, *_file_letter(old, form_upload))

    def write(self, path: DrivePath, upload: Upload, *, rules: Rules = OWNER,
              content_type: str | None = None, make_parents: bool = True,
              form_upload: bool = False) -> tuple[Entry, bool]:
        """Put the staged bytes at `path`; returns (entry, created). Always consumes `upload`
        (on any failure nothing of it is left)."""
        try:
            if path.is_root:
                raise Conflict("cannot write the drive root")
            upload.finish()
            with self.index.commit([path.parent]) as txn:
                rec_old = txn.record(path)
                old = entry_of(path, rec_old) if rec_old is not None else None
                if old is not None and old.is_dir:
                    raise IsDirectory(f"{path} is a directory")
                check_preconditions(path, old, rules)
                self._permit_file(rules, path, old, form_upload)
                self._tokens(rules, path)
                self._quota(txn, rules.quota, upload.size - (old.size if old else 0))
                ensure_parents(txn, path.parent, create=make_parents)
                if old is None:
                    check_unclaimed(self.index, path)
                rec = self._place(txn, path, upload, old, content_type)
            return entry_of(path, rec), old is None
        finally:
            upload.abort()

    def _place(self, txn: Txn, path: DrivePath, upload: Upload, old: Entry | None,
               content_type: str | None) -> dict[str, Any]:
        disk = self.index.disk(path)
        txn.mark()
        os.rename(upload.path, disk)
        upload.mark_committed()
        st = os.stat(disk, follow_symlinks=False)
        rec: dict[str, Any] = {
            "type": "file", "size": upload.size, "etag": upload.etag, "mtime": st.st_mtime,
            "created": old.created if old else st.st_mtime,
            "content_type": guess_type(path.name, content_type)}
        if old is not None:
            if old.props:
                rec["props"] = dict(old.props)
            txn.replace_file(path.parent, path.name, rec)
        else:
            txn.add_child(path.parent, path.name, rec)
        return rec

    def put(self, path: DrivePath, source: Source, *, rules: Rules = OWNER,
            content_type: str | None = None, make_parents: bool = True,
            form_upload: bool = False) -> tuple[Entry, bool]:
        """Stream `source` (bytes, an iterator of chunks or a binary file) into `path`."""
        length = len(source) if isinstance(source, bytes | bytearray | memoryview) else None
        upload = self.begin_write(path, rules=rules, length=length, form_upload=form_upload)
        try:
            if isinstance(source, bytes | bytearray | memoryview):
                upload.write(source)
            else:
                upload.write_from(source)
        except BaseException:
            upload.abort()
            raise
        return self.write(path, upload, rules=rules, content_type=content_type,
                          make_parents=make_parents, form_upload=form_upload)

    def write_many(self, items: Sequence[tuple[DrivePath, Upload, str | None]], *,
                   rules: Rules = OWNER, form_upload: bool = True
                   ) -> list[tuple[Entry, bool]]:
        """Commit several staged uploads at once (a folder upload): (path, upload,
        content type) each, missing parents created. All or nothing: every item is checked
        (against the drive and against the items before it) before anything is renamed in,
        under one drive lock and one commit, and the quota holds for the sum. Always consumes
        every upload."""
        try:
            if not items:
                return []
            paths = [p for p, _, _ in items]
            if len(set(paths)) != len(paths):
                raise Conflict("the same path appears twice in one upload")
            if len(items) == 1:
                items[0][1].finish()
            else:  # one flush of the filesystem instead of one fdatasync per file
                for _, upload, _ in items:
                    upload.finish(durable=False)
                fsutil.syncfs(self.layout.tmp)
            with self.index.commit({p.parent for p in paths}) as txn:
                olds = self._plan_many(txn, paths, rules, form_upload)
                self._quota(txn, rules.quota, sum(u.size for _, u, _ in items)
                            - sum(o.size for o in olds if o is not None))
                out = []
                for (path, upload, ctype), old in zip(items, olds, strict=True):
                    ensure_parents(txn, path.parent, create=True)
                    if old is None:
                        check_unclaimed(self.index, path)
                    rec = self._place(txn, path, upload, old, ctype)
                    out.append((entry_of(path, rec), old is None))
            return out
        finally:
            for _, upload, _ in items:
                upload.abort()

    def _plan_many(self, txn: Txn, paths: Sequence[DrivePath], rules: Rules,
                   form_upload: bool) -> list[Entry | None]:
        """Check every path of a batch before any is written; returns what each replaces."""
        share = self._share(rules)  # one read of the live record for the whole batch
        files: set[DrivePath] = set()
        dirs: set[DrivePath] = set()
        olds: list[Entry | None] = []
        for path in paths:
            if path.is_root:
                raise Conflict("cannot write the drive root")
            for a in path.ancestors()[1:-1]:  # not itself, not the root
                if a in files:
                    raise Conflict(f"{a} is a file, not a directory")
                if a not in dirs:
                    rec = txn.record(a)
                    if rec is not None and rec.get("type") != "dir":
                        raise Conflict(f"{a} is a file, not a directory")
                    dirs.add(a)
            if path in dirs:
                raise IsDirectory(f"{path} is a directory")
            rec_old = txn.record(path)
            old = entry_of(path, rec_old) if rec_old is not None else None
            if old is not None and old.is_dir:
                raise IsDirectory(f"{path} is a directory")
            check_preconditions(path, old, rules)
            _grant(share, path, *_file_letter(old, form_upload))
            self._tokens(rules, path)
            files.add(path)
            olds.append(old)
        return olds

    # -- directories and the tree -------------------------------------------------------------
    def mkdir(self, path: DrivePath, *, rules: Rules = OWNER, parents: bool = False,
              exist_ok: bool = False) -> tuple[Entry, bool]:
        """Create a directory; returns (entry, created). Without `parents`, a missing parent
        is a Conflict (WebDAV 409); an existing directory is AlreadyExists unless `exist_ok`;
        an existing file always is."""
        self.open()
        if path.is_root:
            if exist_ok:
                return self.index.stat(path), False
            raise AlreadyExists("the drive root exists")
        with self.index.commit([path.parent]) as txn:
            self._permit(rules, path, "C", "creating directories")
            rec = txn.record(path)
            if rec is not None:
                if rec.get("type") == "dir" and exist_ok:
                    return entry_of(path, rec), False
                raise AlreadyExists(f"{path} exists")
            self._tokens(rules, path)
            ensure_parents(txn, path.parent, create=parents)
            rec = create_dir(txn, path.parent, path.name)
        return entry_of(path, rec), True

    def delete(self, path: DrivePath, *, rules: Rules = OWNER) -> Entry:
        """Delete a file or a whole directory tree (never the root, nor a share's root through
        its link); the WebDAV locks on it and below go with it."""
        if path.is_root:
            raise Conflict("the drive root cannot be deleted")
        self.open()
        with self.index.commit([path.parent]) as txn:
            rec = txn.record(path)
            if rec is None:
                raise NotFound(f"{path} not found")
            entry = entry_of(path, rec)
            check_preconditions(path, entry, Rules(if_match=rules.if_match))
            share = self._permit(rules, path, "D", "deleting")
            if share is not None and path == share.target:
                raise WriteRefused("the root of a share cannot be deleted through its link")
            self._tokens(rules, path, recursive=True)
            txn.remove_child(path.parent, path.name)
            trash(txn, self.index.disk(path))
            self.locks.remove_within(path)
        return entry

    def move(self, src: DrivePath, dst: DrivePath, *, rules: Rules = OWNER,
             overwrite: bool = True) -> bool:
        """Rename or relocate; returns True when `dst` did not exist before. The destination's
        parent must exist (Conflict). With `overwrite` an existing destination is replaced.
        Locks on the source and below are dropped (they do not travel with it)."""
        return self._transfer(src, dst, rules=rules, overwrite=overwrite, copy=False)

    def copy(self, src: DrivePath, dst: DrivePath, *, rules: Rules = OWNER,
             overwrite: bool = True, recursive: bool = True) -> bool:
        """Copy a file or a tree (`recursive=False`: a directory without its members, WebDAV
        `Depth: 0`); dead properties come along, locks do not. True when `dst` is new."""
        return self._transfer(src, dst, rules=rules, overwrite=overwrite, copy=True,
                              recursive=recursive)

    def _transfer(self, src: DrivePath, dst: DrivePath, *, rules: Rules, overwrite: bool,
                  copy: bool, recursive: bool = True) -> bool:
        if src.is_root or dst.is_root:
            raise Conflict("the drive root cannot be moved, copied or replaced")
        if dst == src:
            raise Conflict("source and destination are the same")
        if dst.is_within(src):
            raise Conflict("cannot move or copy a directory into itself")
        if src.is_within(dst):
            raise Conflict("cannot replace a directory with one of its own members")
        what = "COPY" if copy else "MOVE"
        self.open()
        self._permit(rules, src, None, what)  # early: no tree is copied for a refused link
        staged: Path | None = None
        built: tuple[dict[str, Any], tuple[int, int, int]] | None = None
        if copy:
            # Build the copy in tmp/ first, with no lock held: a big tree costs no one a wait.
            staged = staged_name(self.index, "copy")
            built = build_copy(self.index, self.index.stat(src), staged, recursive=recursive,
                               quota=rules.quota, open_file=self.open_file)
        try:
            with self.index.commit([src.parent, dst.parent]) as txn:
                self._permit(rules, src, None, what)
                src_rec = txn.record(src)
                if src_rec is None:
                    raise NotFound(f"{src} not found")
                if not txn.dir_exists(dst.parent):
                    raise Conflict(f"parent of {dst} does not exist")
                dst_rec = txn.doc(dst.parent)["children"].get(dst.name)
                if dst_rec is not None and not overwrite:
                    raise PreconditionFailed(f"{dst} exists")
                if not copy:
                    self._tokens(rules, src, recursive=True)
                self._tokens(rules, dst, recursive=True)
                if built is not None:
                    adding = built[1][2] - (txn.held(dst, dst_rec)[2] if dst_rec else 0)
                    self._quota(txn, rules.quota, adding)
                if dst_rec is not None:
                    txn.remove_child(dst.parent, dst.name)
                    trash(txn, self.index.disk(dst))
                else:
                    check_unclaimed(self.index, dst)
                target = self.index.disk(dst)
                if built is not None and staged is not None:
                    rec, held = built
                    txn.mark()
                    os.rename(staged, target)
                    staged = None
                else:
                    rec, held = txn.remove_child(src.parent, src.name)
                    txn.mark()
                    os.rename(self.index.disk(src), target)
                    if rec["type"] == "dir":
                        rename_index(target, dst.name)
                    self.locks.remove_within(src)
                if rec["type"] == "file":
                    st = os.stat(target, follow_symlinks=False)
                    txn.add_child(dst.parent, dst.name, dict(rec, mtime=st.st_mtime))
                else:
                    txn.add_child(dst.parent, dst.name, dict(rec),
                                  (held[0], held[1] - 1, held[2]))
                return dst_rec is None
        finally:
            if staged is not None:
                fsutil.remove_tree(staged) if staged.is_dir() else unlink_quiet(staged)

    def set_props(self, path: DrivePath, set_props: Mapping[str, str],
                  remove: Iterable[str] = (), *, rules: Rules = OWNER) -> Entry:
        """Store (or remove) dead properties: clark name `{ns}local` -> the property's XML."""
        remove = list(remove)
        self.open()
        with self.index.commit([]) as txn:
            self._permit(rules, path, None, "PROPPATCH")
            rec = txn.record(path)
            if rec is None:
                raise NotFound(f"{path} not found")
            self._tokens(rules, path, member_change=False)
            props = dict(rec.get("props") or {})
            for name in remove:
                props.pop(name, None)
            props.update(set_props)
            if props:
                rec["props"] = props
            else:
                rec.pop("props", None)
            txn.dirty.add(path if path.is_root else path.parent)
        return self.index.stat(path)

    # -- WebDAV locks -------------------------------------------------------------------------
    def lock(self, path: DrivePath, *, scope: str, depth: str, owner: str = "",
             timeout: int = DEFAULT_TIMEOUT, principal: str = "",
             rules: Rules = OWNER) -> tuple[DavLock, bool]:
        """Grant a WebDAV lock under the drive lock (so no write's token check can miss it);
        locking an unmapped URL creates an empty file in the same commit (RFC 4918 §7.3).
        Returns (lock, created). A lock on a file is always depth 0."""
        self.open()
        with self.index.commit([] if path.is_root else [path.parent]) as txn:
            self._permit(rules, path, None, "LOCK")
            entry = txn.entry(path)
            created = entry is None
            if entry is not None and not entry.is_dir:
                depth = "0"
            if created:
                self._tokens(rules, path)
                if not txn.dir_exists(path.parent):
                    raise Conflict(f"parent of {path} does not exist")
                check_unclaimed(self.index, path)
            lock = self.locks.create(path, scope=scope, depth=depth, owner=owner,
                                     timeout=timeout, principal=principal)
            if created:
                try:
                    upload = Upload(staged_name(self.index, "upload"), None)
                    try:
                        upload.finish()
                        self._place(txn, path, upload, None, None)
                    finally:
                        upload.abort()
                except BaseException:
                    with contextlib.suppress(NotFound):
                        self.locks.remove(lock.token)
                    raise
        return lock, created


def _grant(share: Share | None, path: DrivePath, letter: str | None, what: str) -> None:
    if share is None:
        return
    if letter is None:
        raise WriteRefused(f"{what} is not allowed on shared resources")
    if not path.is_within(share.target):
        raise WriteRefused(f"{path} is outside the shared folder")
    if not share.allows(letter):
        raise WriteRefused(f"this share link does not allow {what}")


def _file_letter(old: Entry | None, form_upload: bool) -> tuple[str, str]:
    """The manual: a multipart form upload needs U; a PUT needs C to create, U to
    overwrite."""
    if form_upload:
        return "U", "uploading"
    return ("U", "overwriting files") if old is not None else ("C", "creating files")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
