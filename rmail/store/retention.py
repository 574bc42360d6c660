"""Retention: when stored mail expires, and the sweep that expunges it.

WildDuck's model, in milliseconds: a user default ``retention``, a per-mailbox ``retention``
(it wins over the user's), each applying to messages that arrive *after* it is set, and a
per-message ``expires`` (an absolute time). Trash and Junk keep nothing longer than
`SPECIAL_CAP_MS` (30 days) whatever the settings say.

"Arrived after it was set" is exact, without a per-message record: a setting stores the
folder's UIDNEXT at that moment (UIDs only grow, so a message with a UID at or above it
arrived later). When a message arrived is bounded from above by *checkpoints*: pairs
(UIDNEXT, time) written at every setting and by every sweep; a message with UID U arrived
no later than the first checkpoint with UIDNEXT > U. A message expires at that bound plus
its retention, so it is never expunged early and at most one sweep period late. Messages
newer than the last checkpoint wait for the next sweep.

One document per user, `mail/retention.json` (see `rmail.store.layout`), version 1::

    {"version": 1,
     "user": [{"ms": N, "since": T, "from": {"<folder id>": UIDNEXT, ...}}, ...],
     "folders": {"<folder id>": {"settings": [[UIDNEXT, ms], ...],
                                 "checkpoints": [[UIDNEXT, T], ...]}},
     "expires": {"<folder id>": {"<uid>": T}}}

Times are Unix seconds (floats). Writers hold `retention.lock` (after no other lock of the
user: the sweep expunges after releasing it).
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rmail.store import fsutil
from rmail.store.errors import CorruptStore, InvalidValue, NotFound
from rmail.store.layout import Layout
from rmail.store.mailbox import Folder, MailStore

__all__ = ["MAX_RETENTION_MS", "RETENTION_VERSION", "SPECIAL_CAP_MS", "RetentionStore",
           "SweepResult", "check_retention"]

RETENTION_VERSION = 1
SPECIAL_CAP_MS = 30 * 86400 * 1000
MAX_RETENTION_MS = 100 * 365 * 86400 * 1000  # a century
MAX_HISTORY = 32  # settings kept per folder (and user); older ones no longer matter
MAX_CHECKPOINTS = 1000  # per folder; the oldest are dropped (their messages expire later)
MAX_EXPIRES = 100_000  # per-message expiries per user
CAPPED_USES = ("\\Trash", "\\Junk")


def check_retention(value: Any, field: str = "retention") -> int:
    """Milliseconds, 0 (keep forever) up to a century."""
    if isinstance(value, bool) or not isinstance(value, int) or \
            not 0 <= value <= MAX_RETENTION_MS:
        raise InvalidValue(f"{field} must be milliseconds, an integer 0-{MAX_RETENTION_MS} "
                           "(0: keep forever)")
    return value


@dataclass
class SweepResult:
    users: int = 0
    folders: int = 0
    expunged: int = 0
    complete: bool = True  # False: the budget ran out, the next run goes on


def _empty() -> dict[str, Any]:
    return {"user": [], "folders": {}, "expires": {}}


class RetentionStore:
    """Retention settings and the sweep (one per process; the sweep runs once per server)."""

    def __init__(self, mail: MailStore, *, clock: Callable[[], float] = time.time) -> None:
        self.mail = mail
        self.layout: Layout = mail.layout
        self.clock = clock

    # -- the document ----------------------------------------------------------------------------
    def _read(self, domain: str, username: str) -> dict[str, Any]:
        try:
            doc = fsutil.read_json(self.layout.retention_file(domain, username),
                                   version=RETENTION_VERSION)
        except FileNotFoundError:
            return _empty()
        if not isinstance(doc, dict):
            raise CorruptStore("retention.json must hold an object")
        out = _empty()
        out.update({k: doc[k] for k in ("user", "folders", "expires") if k in doc})
        return out

    def get(self, domain: str, username: str) -> dict[str, Any]:
        return self._read(domain, username)

    def _update(self, domain: str, username: str,
                change: Callable[[dict[str, Any]], None]) -> None:
        if not self.layout.user_dir(domain, username).is_dir():
            raise NotFound(f"no user {username}@{domain}")
        path = self.layout.retention_file(domain, username)
        fsutil.ensure_dir(path.parent)
        with fsutil.locked(self.layout.retention_lock(domain, username)):
            doc = self._read(domain, username)
            change(doc)
            fsutil.atomic_write(path, fsutil.dump_json({"version": RETENTION_VERSION, **doc}))

    @staticmethod
    def _checkpoint(doc: dict[str, Any], folder_id: str, uidnext: int, now: float) -> None:
        entry = doc["folders"].setdefault(folder_id, {"settings": [], "checkpoints": []})
        points = entry.setdefault("checkpoints", [])
        if points and points[-1][0] >= uidnext:
            return  # nothing arrived since: the older, earlier checkpoint stays the bound
        points.append([uidnext, now])
        del points[:-MAX_CHECKPOINTS]

    # -- settings (the API calls these) ----------------------------------------------------------
    def set_user_retention(self, domain: str, username: str, ms: int) -> None:
        """The user's default retention for messages arriving from now on (0: keep)."""
        check_retention(ms)
        mailbox = self.mail.mailbox(domain, username)
        now = self.clock()
        folders = [(e.folder_id, mailbox.folder(e.name).status().uidnext)
                   for e in mailbox.entries() if e.folder_id is not None]

        def change(doc: dict[str, Any]) -> None:
            doc["user"].append({"ms": ms, "since": now, "from": dict(folders)})
            del doc["user"][:-MAX_HISTORY]
            for folder_id, uidnext in folders:
                self._checkpoint(doc, folder_id, uidnext, now)
        self._update(domain, username, change)

    def set_mailbox_retention(self, domain: str, username: str, folder: Folder, ms: int) -> None:
        """A mailbox's retention for messages arriving from now on (0: the user's default)."""
        check_retention(ms)
        now, uidnext = self.clock(), folder.status().uidnext

        def change(doc: dict[str, Any]) -> None:
            entry = doc["folders"].setdefault(folder.id, {"settings": [], "checkpoints": []})
            entry.setdefault("settings", []).append([uidnext, ms])
            del entry["settings"][:-MAX_HISTORY]
            self._checkpoint(doc, folder.id, uidnext, now)
        self._update(domain, username, change)

    def mailbox_retention(self, domain: str, username: str, folder: Folder) -> int:
        """The retention new messages of the folder get (ms; 0: kept forever)."""
        doc = self._read(domain, username)
        uid = folder.status().uidnext
        return self._retention(doc, folder.id, uid, self._capped(folder))

    def set_expires(self, domain: str, username: str, folder: Folder, uid: int,
                    when: float | None) -> None:
        """A message's own expiry (Unix seconds), or None to remove it."""
        folder.record(uid)  # NotFound for a message that is not there
        self.set_expires_many(domain, username, folder, [uid], when)

    def set_expires_many(self, domain: str, username: str, folder: Folder,
                         uids: Iterable[int], when: float | None) -> None:
        """`set_expires` for several messages (present a moment ago) with one write (the bulk
        `PUT .../messages`)."""
        keys = [str(uid) for uid in uids]
        if not keys:
            return

        def change(doc: dict[str, Any]) -> None:
            per = doc["expires"].setdefault(folder.id, {})
            if when is None:
                for key in keys:
                    per.pop(key, None)
                return
            new = sum(1 for key in keys if key not in per)
            if sum(len(v) for v in doc["expires"].values()) + new > MAX_EXPIRES:
                raise InvalidValue(f"at most {MAX_EXPIRES} messages may carry an expiry")
            for key in keys:
                per[key] = float(when)
        self._update(domain, username, change)

    # -- working out expiry -----------------------------------------------------------------------
    @staticmethod
    def _capped(folder: Folder) -> bool:
        try:
            entry = folder.owner.entry(folder.name)
        except NotFound:
            return False
        return entry.special_use in CAPPED_USES

    @staticmethod
    def _retention(doc: dict[str, Any], folder_id: str, uid: int, capped: bool) -> int:
        ms = 0
        for from_uid, value in reversed(doc["folders"].get(folder_id, {}).get("settings", [])):
            if from_uid <= uid:
                ms = value
                break
        if not ms:
            for setting in reversed(doc["user"]):
                if setting["from"].get(folder_id, 1) <= uid:
                    ms = setting["ms"]
                    break
        if capped:
            ms = min(ms, SPECIAL_CAP_MS) if ms else SPECIAL_CAP_MS
        return int(ms)

    def expired(self, doc: dict[str, Any], folder: Folder, uids: Iterable[int], now: float,
                limit: int) -> list[int]:
        """Which of ``uids`` (ascending) have expired at ``now``, at most ``limit``."""
        entry = doc["folders"].get(folder.id, {})
        points = entry.get("checkpoints", [])
        marks = [p[0] for p in points]
        own = doc["expires"].get(folder.id, {})
        capped = self._capped(folder)
        out: list[int] = []
        for uid in uids:
            if len(out) >= limit:
                break
            explicit = own.get(str(uid))
            if explicit is not None and explicit <= now:
                out.append(uid)
                continue
            ms = self._retention(doc, folder.id, uid, capped)
            if not ms:
                continue
            i = bisect.bisect_right(marks, uid)
            if i == len(points):
                continue  # newer than the last checkpoint: the next sweep decides
            if points[i][1] + ms / 1000 <= now:
                out.append(uid)
        return out

    # -- the sweep ---------------------------------------------------------------------------------
    def sweep_user(self, domain: str, username: str, now: float, budget: int) -> SweepResult:
        """Expunge what expired in one user's folders (at most ``budget`` messages), then
        checkpoint every folder that can expire anything. IMAP sessions see EXPUNGE."""
        result = SweepResult(users=1)
        mailbox = self.mail.mailbox(domain, username)
        if not os.path.isdir(mailbox.layout.dir):
            return result
        doc = self._read(domain, username)
        has_settings = bool(doc["user"]) or any(
            f.get("settings") for f in doc["folders"].values()) or any(doc["expires"].values())
        seen: list[tuple[str, int]] = []
        for entry in mailbox.entries():
            if entry.folder_id is None:
                continue
            if not has_settings and entry.special_use not in CAPPED_USES:
                continue
            try:
                folder = mailbox.folder(entry.name)
                uids = folder.uids()
            except NotFound:
                continue
            result.folders += 1
            if budget - result.expunged <= 0:
                result.complete = False
                break
            gone = self.expired(doc, folder, uids, now, budget - result.expunged)
            if gone:
                result.expunged += len(folder.expunge(gone))
                if result.expunged >= budget:
                    result.complete = False
            seen.append((folder.id, folder.status().uidnext))
        points = {f: (e.get("checkpoints") or [[0, 0]])[-1][0]
                  for f, e in doc["folders"].items()}
        if any(uidnext > points.get(f, 0) for f, uidnext in seen) or \
                any(f not in dict(seen) for f in (*doc["folders"], *doc["expires"])):
            live = {e.folder_id for e in mailbox.entries() if e.folder_id is not None}

            def change(d: dict[str, Any]) -> None:
                for folder_id, uidnext in seen:
                    self._checkpoint(d, folder_id, uidnext, now)
                for folder_id in [f for f in d["folders"] if f not in live]:
                    del d["folders"][folder_id]  # deleted folders: nothing left to expire
                for folder_id in [f for f in d["expires"] if f not in live]:
                    del d["expires"][folder_id]
            self._update(domain, username, change)
        return result

    def sweep(self, users: Iterable[tuple[str, str]], budget: int,
              now: float | None = None) -> SweepResult:
        """One run over ``users`` ((domain, username) pairs), at most ``budget`` expunges."""
        total = SweepResult()
        when = self.clock() if now is None else now
        for domain, username in users:
            if total.expunged >= budget:
                total.complete = False
                break
            try:
                one = self.sweep_user(domain, username, when, budget - total.expunged)
            except NotFound:
                continue
            total.users += 1
            total.folders += one.folders
            total.expunged += one.expunged
            total.complete = total.complete and one.complete
        return total
