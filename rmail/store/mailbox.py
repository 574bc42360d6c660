"""Mail storage entry points: `MailStore` (one per process and mail root) and `UserMailbox` (one
user's folder list, quota usage and claims, maildrop lock). Each folder is a
`rmail.store.folder.Folder` (index, journal, message files, group commit); this module
re-exports it and its result types so callers import mail storage from one place.

Lock rules (STYLE.md #7):
- `folders.lock` serialises changes of the user's folder list. Order: folders.lock before any
  folder.lock (`rmail.store.folder`), never the other way round.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from rmail.store import fsutil, groupcommit
from rmail.store.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    QuotaExceeded,
)
from rmail.store.events import Change, EventBus
from rmail.store.folder import (  # noqa: F401  (re-exported: mail storage from one place)
    COMPACT_MIN_BYTES,
    FLAG_MODES,
    REAPER,
    Folder,
    FolderStatus,
    StoreResult,
)
from rmail.store.folders import (
    DEFAULT_FOLDERS,
    INBOX,
    FolderEntry,
    FolderList,
    canonical_name,
    check_special_use,
    is_inside,
    parents_of,
)
from rmail.store.layout import FolderLayout, Layout, MailLayout
from rmail.store.metadata import Metadata
from rmail.store.quotaclaims import Mark, QuotaClaims, Stale, user_key

log = logging.getLogger(__name__)

USAGE_TTL = 1.0


class MailStore:
    """Entry point: one per process and mail root. Caches open folders so their in-memory
    indexes are loaded once and then kept current from the journal."""

    def __init__(self, mail_root: str | os.PathLike[str], events: EventBus | None = None, *,
                 verify_tail: bool = True) -> None:
        self.layout = Layout(mail_root)
        self.events = events
        self.verify_tail = verify_tail  # `rmail check` turns it off to report what it finds
        self._users: dict[tuple[str, str], UserMailbox] = {}
        self._lock = threading.Lock()
        # The threads that fsync commit waves and compactions in parallel, started on first
        # use; `close` (called by the process's `Services`) stops them.
        self.sync_crew = groupcommit.SyncCrew(groupcommit.SYNC_THREADS)
        # Quota usage and in-flight claims; a server with workers replaces it with the table
        # every process shares (`rmail.store.quotaclaims`).
        self.claims = QuotaClaims.local()

    def close(self) -> None:
        """Stop the threads that sync commit waves (the process is ending)."""
        self.sync_crew.close()

    def share_claims(self, claims: QuotaClaims) -> None:
        """Account quotas in ``claims`` (the table every process of the server shares) from
        now on; usages cached against the old table are summed afresh."""
        with self._lock:
            self.claims = claims
            users = list(self._users.values())
        for mb in users:
            mb._forget_usage()

    def mailbox(self, domain: str, username: str) -> UserMailbox:
        """The mailbox of an existing user (names already validated by the accounts layer)."""
        key = (domain, username)
        with self._lock:
            mb = self._users.get(key)
            if mb is None:
                if not self.layout.user_dir(domain, username).is_dir():
                    raise NotFound(f"no user {username}@{domain}")
                mb = UserMailbox(self, domain, username)
                self._users[key] = mb
            return mb

    def forget(self, domain: str, username: str) -> None:
        """Drop cached state of a deleted user."""
        with self._lock:
            self._users.pop((domain, username), None)

    def publish(self, change: Change) -> None:
        if self.events is not None:
            self.events.publish(change)


class UserMailbox:
    """One user's folders."""

    def __init__(self, store: MailStore, domain: str, username: str) -> None:
        self.store = store
        self.domain = domain
        self.username = username
        self.layout = MailLayout(store.layout.mail_dir(domain, username))
        self.metadata = Metadata(self.layout.dir)  # IMAP METADATA annotations
        self.staging_s = str(self.layout.staging_dir)
        self._folders: dict[str, Folder] = {}
        self._list: FolderList | None = None
        self._list_key: tuple[int, int] | None = None
        self._lock = threading.RLock()
        self.key = user_key(domain, username)  # in the quota table
        self._usage: tuple[float, int, Mark] | None = None  # (summed at, bytes, drift mark)
        self._reserved = 0  # bytes of appends in flight without a quota-table slot

    # -- the folder list ---------------------------------------------------------------------
    def _read_list(self) -> FolderList:
        path = self.layout.folders_file
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if not os.path.isdir(self.layout.dir):
                return FolderList()
            self.init_defaults()  # a user created in bulk (provisioning) gets them on first use
            st = os.stat(path)
        key = (st.st_ino, st.st_mtime_ns)
        with self._lock:
            if self._list is None or key != self._list_key:
                self._list = FolderList(fsutil.read_json(path, version=1))
                self._list_key = key
            return self._list

    def _write_list(self, fl: FolderList) -> None:
        fsutil.write_json(self.layout.folders_file, fl.to_doc())
        with self._lock:
            self._list = None

    def init_defaults(self) -> None:
        """Create the default folders (INBOX, Drafts, Sent, Trash, Junk, Archive) if missing."""
        fsutil.ensure_dir(self.layout.dir)
        fsutil.ensure_dir(self.layout.staging_dir)
        with fsutil.locked(self.layout.folders_lock):
            fl = FolderList(self._load_list_locked())
            if self._add_defaults_locked(fl):
                self._write_list(fl)

    def _add_defaults_locked(self, fl: FolderList) -> bool:
        changed = False
        for name, use in DEFAULT_FOLDERS:
            if name not in fl.folders:
                self._create_locked(fl, name, use if not fl.special_taken(use or "") else None)
                fl.subscriptions.add(name)
                changed = True
        return changed

    def _load_list_locked(self) -> dict[str, Any] | None:
        """The folder list; a user without one yet (provisioned in bulk: `mail/` exists, no
        folders.json) gets the default folders here, so no writer starts from nothing."""
        path = self.layout.folders_file
        if path.exists():
            return fsutil.read_json(path, version=1)
        fl = FolderList()
        self._add_defaults_locked(fl)
        self._write_list(fl)
        return fl.to_doc()

    def entries(self) -> list[FolderEntry]:
        """All folders, INBOX first, then by name."""
        return self._read_list().entries()

    def entry(self, name: str) -> FolderEntry:
        name = canonical_name(name)
        fl = self._read_list()
        if name not in fl.folders:
            raise NotFound(f"no folder {name!r}")
        return fl.entry(name)

    def folder(self, name: str) -> Folder:
        """An existing, selectable folder."""
        entry = self.entry(name)
        if entry.folder_id is None:
            raise NotFound(f"folder {name!r} cannot be selected")
        return self._folder_object(entry.folder_id, entry.name)

    def folder_by_special_use(self, use: str) -> Folder | None:
        for entry in self.entries():
            if entry.special_use == use and entry.folder_id is not None:
                return self._folder_object(entry.folder_id, entry.name)
        return None

    def _folder_object(self, folder_id: str, name: str) -> Folder:
        with self._lock:
            f = self._folders.get(folder_id)
            if f is None:
                f = Folder(self, folder_id, name)
                self._folders[folder_id] = f
            f.name = name
        if self.store.verify_tail:
            f._verify_tail()
        return f

    def create_folder(self, name: str, special_use: str | None = None) -> Folder:
        """Create a folder and any missing parents (RFC 3501 §6.3.3). Several folders may
        carry the same special use (RFC 6154 §1: two \\Sent folders are legal)."""
        name = canonical_name(name)
        use = check_special_use(special_use)
        with fsutil.locked(self.layout.folders_lock):
            fl = FolderList(self._load_list_locked())
            existing = fl.folders.get(name)
            if existing is not None and existing.get("id") is not None:
                raise AlreadyExists(f"folder {name!r} exists")
            for parent in parents_of(name):
                if parent not in fl.folders:
                    self._create_locked(fl, parent, None)
            self._create_locked(fl, name, use)
            self._write_list(fl)
            fid = fl.folders[name]["id"]
        self.store.publish(Change(self.domain, self.username, "folders"))
        return self._folder_object(fid, name)

    def _create_locked(self, fl: FolderList, name: str, use: str | None) -> str:
        fid = fl.new_id()
        uidvalidity = fl.new_uidvalidity()
        Folder.initialise(FolderLayout(self.layout.folder_dir(fid)), uidvalidity)
        fl.folders[name] = {"id": fid, "special_use": use}
        return fid

    def rename_folder(self, old: str, new: str) -> None:
        """Rename a folder and its children. Renaming INBOX moves its messages to the new name
        and leaves an empty INBOX (RFC 3501 §6.3.5)."""
        old, new = canonical_name(old), canonical_name(new)
        with fsutil.locked(self.layout.folders_lock):
            fl = FolderList(self._load_list_locked())
            if old not in fl.folders:
                raise NotFound(f"no folder {old!r}")
            if new in fl.folders:
                raise AlreadyExists(f"folder {new!r} exists")
            if new == old or (is_inside(new, old) and old != INBOX):
                raise Conflict("cannot rename a folder into itself")  # INBOX stays: allowed
            for parent in parents_of(new):
                if parent not in fl.folders:
                    self._create_locked(fl, parent, None)
            renamed: dict[str, str] = {}  # folder id -> new name
            if old == INBOX:
                fl.folders[new] = dict(fl.folders[INBOX], special_use=None)
                del fl.folders[INBOX]
                if (fid := fl.folders[new].get("id")) is not None:
                    renamed[fid] = new
                self._create_locked(fl, INBOX, None)
            else:
                moved = {n: r for n, r in fl.folders.items() if n == old or is_inside(n, old)}
                for n, rec in moved.items():
                    del fl.folders[n]
                    fl.folders[new + n[len(old):]] = rec
                    if rec.get("id") is not None:
                        renamed[rec["id"]] = new + n[len(old):]
                    if n in fl.subscriptions:
                        fl.subscriptions.discard(n)
                        fl.subscriptions.add(new + n[len(old):])
            self._write_list(fl)
            with self._lock:  # open Folder objects (an IMAP session's selection) follow
                for fid, name in renamed.items():
                    if (f := self._folders.get(fid)) is not None:
                        f.name = name
        self.store.publish(Change(self.domain, self.username, "folders"))

    def delete_folder(self, name: str) -> None:
        """Delete a folder and its messages. A folder with children becomes a \\Noselect
        placeholder (RFC 3501 §6.3.4); INBOX cannot be deleted."""
        name = canonical_name(name)
        if name == INBOX:
            raise Conflict("INBOX cannot be deleted")
        with fsutil.locked(self.layout.folders_lock):
            fl = FolderList(self._load_list_locked())
            rec = fl.folders.get(name)
            if rec is None:
                raise NotFound(f"no folder {name!r}")
            fid = rec.get("id")
            if fl.has_children(name):
                if fid is None:
                    raise Conflict(f"{name!r} has children and is already \\Noselect")
                fl.folders[name] = {"id": None, "special_use": None}
            else:
                del fl.folders[name]
            self._write_list(fl)
        if fid is not None:
            with self._lock:
                gone = self._folders.pop(fid, None)
                self._usage = None
            if gone is not None:
                gone.metas.close()  # its descriptor would keep the deleted file's blocks
            self._remove_folder_dir(fid)
        self.store.publish(Change(self.domain, self.username, "folders"))

    def _remove_folder_dir(self, fid: str) -> None:
        src = self.layout.folder_dir(fid)
        trash = self.layout.dir / f".deleted-{fid}-{time.time_ns()}"
        try:
            os.rename(src, trash)
        except FileNotFoundError:
            return
        fsutil.remove_tree(trash)

    def set_subscribed(self, name: str, subscribed: bool) -> None:
        """Subscriptions may name folders that don't exist (RFC 3501 §6.3.6)."""
        name = canonical_name(name)
        with fsutil.locked(self.layout.folders_lock):
            fl = FolderList(self._load_list_locked())
            if subscribed:
                fl.subscriptions.add(name)
            else:
                fl.subscriptions.discard(name)
            self._write_list(fl)
        self.store.publish(Change(self.domain, self.username, "folders"))  # (IMAP NOTIFY)

    def subscriptions(self) -> list[str]:
        return sorted(self._read_list().subscriptions)

    def special_folder(self, use: str, name: str) -> Folder:
        """The folder with special-use `use`; else the folder called `name`; else a new one
        called `name` with that special use (a user who deleted Trash gets it back)."""
        found = self.folder_by_special_use(use)
        if found is not None:
            return found
        try:
            return self.folder(name)
        except NotFound:
            pass
        try:
            return self.create_folder(name, use)
        except (AlreadyExists, Conflict):  # created meanwhile by someone else
            return self.folder_by_special_use(use) or self.folder(name)

    def lock_maildrop(self) -> MaildropLock | None:
        """Exclusive use of the INBOX as a POP3 maildrop (RFC 1939 §8: one session at a time),
        across threads, workers and restarts; None while another session holds it. The lock
        dies with its holder (a dropped connection closes it; a killed process loses it)."""
        fsutil.ensure_dir(self.layout.dir)
        fd = fsutil.try_flock(self.layout.maildrop_lock)
        return None if fd is None else MaildropLock(fd)

    # -- usage ----------------------------------------------------------------------------------
    def _summed(self) -> tuple[int, Mark | None]:
        """The sum of the folders' bytes and the quota-table mark it is relative to: cached
        for `USAGE_TTL` seconds (every delivery checks the quota); the drift since the mark
        adds what every process of the server committed meanwhile, and the expiry brings in
        writers outside the server (the CLI)."""
        now = time.monotonic()
        with self._lock:
            cached = self._usage
        if cached is not None and now - cached[0] < USAGE_TTL:
            return cached[1], cached[2]
        # The mark is taken before summing: a commit made meanwhile may count twice (refusing
        # early, never late) until the next recomputation.
        mark = self.store.claims.mark(self.key)
        total = 0
        for entry in self.entries():
            if entry.folder_id is not None:
                total += self._folder_object(entry.folder_id, entry.name).status().bytes
        if mark is not None:
            with self._lock:
                self._usage = (now, total, mark)
        return total, mark

    def _forget_usage(self) -> None:
        with self._lock:
            self._usage = None

    def usage_bytes(self) -> int:
        """Bytes of all messages in all folders, as every process of the server committed
        them (see `_summed`)."""
        for _ in range(3):
            total, mark = self._summed()
            if mark is None:
                return total
            try:
                return total + self.store.claims.drift_since(mark)
            except Stale:  # the table gave our slot to another user: sum afresh
                self._forget_usage()
        return self._summed()[0]

    def recompute_usage(self) -> int:
        """Forget every cached figure and sum the folders' indexes as read from disk again
        (`POST /users/{user}/quota/reset`): corrects whatever drift a crash or a hand edit
        left in this process's view."""
        with self._lock:
            folders = list(self._folders.values())
        self._forget_usage()
        for folder in folders:
            with folder._mem:
                folder._index = None
        return self.usage_bytes()

    @contextlib.contextmanager
    def quota_room(self, nbytes: int, quota_bytes: int | None) -> Iterator[None]:
        """Claim `nbytes` of the quota for an append or copy in flight, or QuotaExceeded.

        Without the claim, concurrent deliveries would each see the usage from before the
        others and together overshoot the quota. Claims live in the quota table every process
        of the server shares (`rmail.store.quotaclaims`) until the caller is done; a commit
        adds its bytes to the usage before its claim is released, so for a moment they count
        twice (refusing early, never late)."""
        if quota_bytes is None:
            yield
            return
        claims = self.store.claims
        slot: int | None = None
        for _ in range(3):
            total, mark = self._summed()
            if mark is None:
                break
            try:
                slot = claims.claim(mark, total, nbytes, quota_bytes)
                break
            except Stale:
                self._forget_usage()
        if slot is not None:
            try:
                yield
            finally:
                claims.release(slot, nbytes)
            return
        # No slot in the table (every one near this user's holds claims): count what this
        # process sees.
        total = self.usage_bytes()
        with self._lock:
            if total + self._reserved + nbytes > quota_bytes:
                raise QuotaExceeded(f"quota of {quota_bytes} bytes exceeded")
            self._reserved += nbytes
        try:
            yield
        finally:
            with self._lock:
                self._reserved -= nbytes

    def _usage_changed(self, delta: int) -> None:
        self.store.claims.committed(self.key, delta)


class MaildropLock:
    """A held maildrop lock (see `UserMailbox.lock_maildrop`); `release` is idempotent."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock

    def __del__(self) -> None:
        self.release()
