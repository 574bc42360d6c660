"""Webmail sessions, kept on disk so every worker process accepts them and they survive a
restart (ARCHITECTURE.md, "Processes").

One small JSON file per session at `sessions/{h[:2]}/{h}.json` (`Layout.session_file`), where
`h` is the SHA-256 of the session id: the disk (and a backup of it) never holds an id a
browser could present. A session carries the account it belongs to, the account's auth epoch
at login (a password change bumps the epoch and so ends every session; the caller compares),
when it was created and when it was last used.

Expiry: `idle` seconds without use, or `max_age` seconds after login, whichever comes first.
`last_seen` is rewritten at most once every `TOUCH_SECONDS` per session (a page view is not a
disk write), without fsync: after a crash a session may look up to that long idler than it was,
never younger.

Reads never lock: a session file changes only by atomic rename or unlink. A lookup costs one
`stat` once the file has been parsed in this process (the parsed session is kept while the
file's inode and mtime stay the same), so it may run on the event loop. Another worker's
logout unlinks the file and the next `stat` here sees it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rmail.store import fsutil
from rmail.store.errors import CorruptStore
from rmail.store.layout import Layout

__all__ = ["SESSION_VERSION", "TOUCH_SECONDS", "Session", "SessionStore", "digest_of"]

SESSION_VERSION = 1
TOUCH_SECONDS = 60
_ID_BYTES = 32  # 256 bits from the OS generator
_MAX_ID_LENGTH = 128
_CACHE_MAX = 100_000


def digest_of(session_id: str) -> str:
    """The name a session is stored under."""
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    """One login. `digest` names it on disk; the id itself is only in the browser."""

    digest: str
    domain: str
    username: str
    epoch: int
    created: float
    last_seen: float

    def to_doc(self) -> dict[str, object]:
        return {"version": SESSION_VERSION, "domain": self.domain, "username": self.username,
                "epoch": self.epoch, "created": self.created, "last_seen": self.last_seen}

    @classmethod
    def from_doc(cls, digest: str, doc: object) -> Session:
        if not isinstance(doc, dict):
            raise CorruptStore(f"session {digest[:8]}: not an object")
        try:
            return cls(digest, str(doc["domain"]), str(doc["username"]), int(doc["epoch"]),
                       float(doc["created"]), float(doc["last_seen"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptStore(f"session {digest[:8]}: {exc}") from None


class SessionStore:
    """Create, look up, end and sweep sessions under one mail root."""

    def __init__(self, mail_root: str | os.PathLike[str], *, idle: float = 7200,
                 max_age: float = 604800) -> None:
        self.layout = Layout(mail_root)
        self.idle = idle
        self.max_age = max_age
        # digest -> ((inode, mtime_ns), session) of files this process has parsed
        self._cache: dict[str, tuple[tuple[int, int], Session]] = {}
        self._last_sweep = 0.0

    @property
    def max_age_seconds(self) -> int:
        """For the cookie's Max-Age: the browser may forget it when the server would."""
        return int(self.max_age)

    # -- creating and ending -----------------------------------------------------------------
    def create(self, domain: str, username: str, epoch: int, *,
               now: float | None = None) -> tuple[str, Session]:
        """A new session with a fresh random id (returned once, never stored). Durable: a
        browser told it is logged in stays logged in across a crash."""
        session_id = secrets.token_urlsafe(_ID_BYTES)
        digest = digest_of(session_id)
        at = time.time() if now is None else now
        session = Session(digest, domain, username, epoch, at, at)
        path = self.layout.session_file(digest)
        created = fsutil.ensure_dir(path.parent)
        fsutil.write_json(path, session.to_doc())
        if created:
            fsutil.fsync_dir(path.parent.parent)
        return session_id, session

    def end(self, session_id: str) -> None:
        """Logout: the file goes, so every process refuses the id from its next request."""
        if not _plausible(session_id):
            return
        digest = digest_of(session_id)
        self._cache.pop(digest, None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.layout.session_file(digest))

    def end_all(self, domain: str, username: str) -> int:
        """End every session of one account (account deleted or disabled); a scan of the
        sessions directory. Returns how many ended."""
        ended = 0
        for path, session in self._each():
            if session is not None and (session.domain, session.username) == (domain, username):
                self._cache.pop(session.digest, None)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    ended += 1
        return ended

    # -- looking up ------------------------------------------------------------------------------
    def lookup(self, session_id: str, *, now: float | None = None) -> Session | None:
        """The live session for an id from a cookie, or None (unknown, ended or expired; an
        expired one is removed). Refreshes `last_seen` when it is older than TOUCH_SECONDS."""
        if not _plausible(session_id):
            return None
        digest = digest_of(session_id)
        path = self.layout.session_file(digest)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._cache.pop(digest, None)
            return None
        key = (st.st_ino, st.st_mtime_ns)
        cached = self._cache.get(digest)
        if cached is not None and cached[0] == key:
            session = cached[1]
        else:
            try:
                session = Session.from_doc(digest, fsutil.read_json(path, version=SESSION_VERSION))
            except (FileNotFoundError, CorruptStore):
                return None  # ended meanwhile, or torn: the user logs in again
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[digest] = (key, session)
        at = time.time() if now is None else now
        if self.expired(session, at):
            self._cache.pop(digest, None)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return None
        if at - session.last_seen >= TOUCH_SECONDS:
            session = self._touch(path, session, at)
        return session

    def expired(self, session: Session, now: float) -> bool:
        return now - session.last_seen > self.idle or now - session.created > self.max_age

    def _touch(self, path: Path, session: Session, now: float) -> Session:
        touched = replace(session, last_seen=now)
        if not path.exists():  # ended by another process a moment ago
            return touched
        fsutil.write_json(path, touched.to_doc(), durable=False)
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(path)
            self._cache[session.digest] = ((st.st_ino, st.st_mtime_ns), touched)
        return touched

    # -- sign-up rate limit --------------------------------------------------------------------
    def claim_signup(self, ip: str, per_hour: int, *, now: float | None = None) -> bool:
        """Count one sign-up from `ip` if fewer than `per_hour` happened in the last hour
        (across every worker: the counts live on disk, updated under a lock)."""
        at = time.time() if now is None else now
        fsutil.ensure_dir(self.layout.sessions_dir)
        with fsutil.locked(self.layout.signups_lock):
            try:
                doc = fsutil.read_json(self.layout.signups_file, version=SESSION_VERSION)
            except (FileNotFoundError, CorruptStore):
                doc = {}
            recent = {k: [t for t in v if at - t < 3600]
                      for k, v in (doc.get("ips") or {}).items() if isinstance(v, list)}
            recent = {k: v for k, v in recent.items() if v}
            mine = recent.setdefault(ip, [])
            if len(mine) >= per_hour:
                return False
            mine.append(at)
            fsutil.write_json(self.layout.signups_file,
                              {"version": SESSION_VERSION, "ips": recent})
            return True

    # -- housekeeping ------------------------------------------------------------------------------
    def sweep(self, *, now: float | None = None, every: float = 3600) -> int:
        """Remove expired session files, at most once per `every` seconds per process (the
        login handler calls it); returns how many went."""
        at = time.time() if now is None else now
        if at - self._last_sweep < every:
            return 0
        self._last_sweep = at
        removed = 0
        for path, session in self._each():
            if session is None or self.expired(session, at):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += 1
                if session is not None:
                    self._cache.pop(session.digest, None)
        return removed

    def _each(self) -> list[tuple[Path, Session | None]]:
        """Every session file with its parsed session (None when unreadable)."""
        out: list[tuple[Path, Session | None]] = []
        root = self.layout.sessions_dir
        if not root.is_dir():
            return out
        for shard in root.iterdir():
            if not shard.is_dir():
                continue
            for path in shard.glob("*.json"):  # (signups.json is not in a shard)
                try:
                    doc = fsutil.read_json(path, version=SESSION_VERSION)
                    out.append((path, Session.from_doc(path.stem, doc)))
                except FileNotFoundError:
                    continue
                except CorruptStore:
                    out.append((path, None))
        return out


def _plausible(session_id: str) -> bool:
    """Ids are URL-safe base64 of a fixed size; anything else is refused before hashing."""
    return (isinstance(session_id, str) and 16 <= len(session_id) <= _MAX_ID_LENGTH
            and session_id.replace("-", "").replace("_", "").isalnum()
            and session_id.isascii())
