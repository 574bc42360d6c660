"""Public share links to drive files and folders.

```
{mail_root}/shares/{uid[:2]}/{uid}.json          the whole record (O(1) lookup by UID)
{drive}/_shares.json                             {"version": 1, "uids": [...]} (the owner's list)
```

A record: `{"version", "uid", "owner", "domain", "username", "target_path", "name",
"permissions", "created", "expires"}`; times are Unix seconds, `expires` may be null.

UIDs are 32 characters of URL-safe base64 from `secrets` (192 bits): unguessable and, in
practice, never equal to a folder name. Permissions are letters of "RCUD"; R is always included.
The share grants access to `target_path` and below only: callers join a validated
`DrivePath` subpath onto it, so nothing outside the owner's shared subtree is reachable.

Lock rules: `_shares.lock` in the owner's drive directory serialises changes to that owner's
list and records. Changing or revoking a share first takes the owner's drive lock
(`files/_index.lock`): writes through a link re-read its record under that lock, so once a
revocation or a narrowing of permissions is acknowledged, no write through the old rights can
still commit. Creating writes the owner's list first, then the record; revoking deletes the
record first, then the list entry. A crash between the two leaves at worst a UID in the list
without a record (skipped when listing): never a live link that its owner cannot see.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from rmail.store import fsutil
from rmail.store.drive.paths import DrivePath
from rmail.store.errors import Conflict, CorruptStore, InvalidValue, NotFound
from rmail.store.layout import DriveLayout, Layout

__all__ = ["NAME_RE", "PERMISSIONS", "UID_RE", "Share", "ShareStore", "check_share_name",
           "parse_expires", "parse_permissions"]

VERSION = 1
PERMISSIONS = "RCUD"
UID_RE = re.compile(r"[A-Za-z0-9_-]{32}")
NAME_RE = re.compile(r"[A-Za-z0-9 ._\-()\[\]]{1,128}")
_NAME_BAD = re.compile(r"[^A-Za-z0-9 ._\-()\[\]]")
_UNSET: Any = object()


def check_share_name(name: object) -> str:
    """A share's display name, also the decorative URL segment: `NAME_RE`, and never `.`-only
    or containing `..` (a client would fold it into a parent reference)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name \
            or name.strip(".") == "" or name != name.strip():
        raise InvalidValue(f"share name must match {NAME_RE.pattern} (no '..', no surrounding "
                           "spaces)")
    return name


def default_name(target: DrivePath) -> str:
    """The target's last component, made to fit `NAME_RE`."""
    name = _NAME_BAD.sub("_", target.name)[:128].strip().replace("..", "_")
    return name if name.strip(".") else "share"


def parse_permissions(value: object) -> str:
    """"RU", "ru", "CR" -> canonical "RCUD"-ordered letters, R always present."""
    if not isinstance(value, str) or len(value) > 8:
        raise InvalidValue('permissions must be a string of the letters "RCUD"')
    letters = set(value.upper())
    if not letters <= set(PERMISSIONS):
        raise InvalidValue('permissions must be a string of the letters "RCUD"')
    letters.add("R")
    return "".join(c for c in PERMISSIONS if c in letters)


def parse_expires(value: object) -> float | None:
    """null, Unix seconds, or an ISO 8601 timestamp (UTC unless it says otherwise)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidValue("expires must be null, Unix seconds or an ISO 8601 time")
    if isinstance(value, int | float):
        if not 0 <= value < 1e11:
            raise InvalidValue("expires is out of range")
        return float(value)
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue("expires must be null, Unix seconds or an ISO 8601 time") \
                from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.timestamp()
    raise InvalidValue("expires must be null, Unix seconds or an ISO 8601 time")


def check_uid(uid: object) -> str:
    if not isinstance(uid, str) or not UID_RE.fullmatch(uid):
        raise NotFound("no such share")
    return uid


@dataclass(frozen=True)
class Share:
    uid: str
    domain: str
    username: str
    target_path: str
    name: str
    permissions: str
    created: float
    expires: float | None = None

    @property
    def owner(self) -> str:
        return f"{self.username}@{self.domain}"

    @property
    def target(self) -> DrivePath:
        return DrivePath.parse(self.target_path)

    def allows(self, letter: str) -> bool:
        return letter in self.permissions

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and (time.time() if now is None else now) >= self.expires

    def to_doc(self) -> dict[str, Any]:
        return {"version": VERSION, "uid": self.uid, "owner": self.owner, "domain": self.domain,
                "username": self.username, "target_path": self.target_path, "name": self.name,
                "permissions": self.permissions, "created": self.created,
                "expires": self.expires}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Share:
        try:
            return cls(str(doc["uid"]), str(doc["domain"]), str(doc["username"]),
                       str(doc["target_path"]), str(doc["name"]), str(doc["permissions"]),
                       float(doc["created"]),
                       None if doc.get("expires") is None else float(doc["expires"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptStore(f"share record {doc.get('uid')!r} is incomplete") from exc


class ShareStore:
    """Share records of one mail root (synchronous; run from a worker thread)."""

    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        self.layout = Layout(mail_root)

    def _drive(self, domain: str, username: str) -> DriveLayout:
        user_dir = self.layout.user_dir(domain, username)
        if not user_dir.is_dir():
            raise NotFound(f"no user {username}@{domain}")
        lay = DriveLayout(self.layout.drive_dir(domain, username))
        fsutil.ensure_dir(lay.dir)
        return lay

    @staticmethod
    @contextlib.contextmanager
    def _writers_paused(lay: DriveLayout) -> Iterator[None]:
        """Hold the owner's drive lock (see the lock rules above)."""
        fsutil.ensure_dir(lay.files)
        with fsutil.locked(lay.lock):
            yield

    def _read_uids(self, lay: DriveLayout) -> list[str]:
        try:
            doc = fsutil.read_json(lay.shares_index, version=VERSION)
        except FileNotFoundError:
            return []
        uids = doc.get("uids") if isinstance(doc, dict) else None
        return [u for u in uids if isinstance(u, str)] if isinstance(uids, list) else []

    def _write_uids(self, lay: DriveLayout, uids: Iterable[str]) -> None:
        fsutil.write_json(lay.shares_index, {"version": VERSION, "uids": list(uids)})

    def get(self, uid: str) -> Share:
        """The record for `uid`, expired or not; NotFound for a malformed or unknown UID."""
        path = self.layout.share_file(check_uid(uid))
        try:
            doc = fsutil.read_json(path, version=VERSION)
        except FileNotFoundError:
            raise NotFound("no such share") from None
        if not isinstance(doc, dict) or doc.get("uid") != uid:
            raise CorruptStore(f"{path}: not a share record")
        return Share.from_doc(doc)

    def resolve(self, uid: str, now: float | None = None) -> Share:
        """The live share for a public link: NotFound when unknown or expired."""
        share = self.get(uid)
        if share.expired(now):
            raise NotFound("no such share")
        return share

    def owned(self, domain: str, username: str, uid: str) -> Share:
        """A share of this owner (someone else's looks exactly like a missing one)."""
        share = self.get(uid)
        if (share.domain, share.username) != (domain, username):
            raise NotFound("no such share")
        return share

    def list(self, domain: str, username: str) -> list[Share]:
        """The owner's shares, oldest first: O(number of the owner's shares)."""
        lay = self._drive(domain, username)
        out = []
        for uid in self._read_uids(lay):
            with contextlib.suppress(NotFound, CorruptStore):
                share = self.get(uid)
                if (share.domain, share.username) == (domain, username):
                    out.append(share)
        return out

    def create(self, domain: str, username: str, target: DrivePath, *, name: str | None = None,
               permissions: str = "R", expires: float | None = None,
               now: float | None = None) -> Share:
        if target.is_root:
            raise Conflict("the drive root cannot be shared")
        lay = self._drive(domain, username)
        share = Share(secrets.token_urlsafe(24), domain, username, str(target),
                      check_share_name(name) if name is not None else default_name(target),
                      parse_permissions(permissions), time.time() if now is None else now,
                      expires)
        path = self.layout.share_file(share.uid)
        with fsutil.locked(lay.shares_lock):
            self._write_uids(lay, [*self._read_uids(lay), share.uid])
            fsutil.ensure_dir(path.parent)
            fsutil.write_json(path, share.to_doc())
        return share

    def update(self, domain: str, username: str, uid: str, *, name: Any = _UNSET,
               permissions: Any = _UNSET, expires: Any = _UNSET) -> Share:
        """Change name/permissions/expiry (arguments left out stay as they are)."""
        lay = self._drive(domain, username)
        with self._writers_paused(lay), fsutil.locked(lay.shares_lock):
            share = self.owned(domain, username, uid)
            if name is not _UNSET:
                share = replace(share, name=check_share_name(name))
            if permissions is not _UNSET:
                share = replace(share, permissions=parse_permissions(permissions))
            if expires is not _UNSET:
                share = replace(share, expires=expires)
            fsutil.write_json(self.layout.share_file(uid), share.to_doc())
        return share

    def delete(self, domain: str, username: str, uid: str) -> Share:
        """Revoke: the link stops working before the owner's list forgets it."""
        lay = self._drive(domain, username)
        with self._writers_paused(lay), fsutil.locked(lay.shares_lock):
            share = self.owned(domain, username, uid)
            path = self.layout.share_file(uid)
            os.unlink(path)
            fsutil.fsync_dir(path.parent)
            self._write_uids(lay, [u for u in self._read_uids(lay) if u != uid])
        return share
