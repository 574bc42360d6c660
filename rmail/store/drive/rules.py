"""What a write must satisfy, handed to the store with the write and checked there under the
drive lock, so nothing can change between the check and the commit.

A `Rules` value carries everything the request imposes: the WebDAV lock tokens it presented,
the share link it came through (its permissions and subtree are re-read from the live share
record under the lock, so a revocation or a permission change is never missed), the quota and
the HTTP preconditions. The owner writing through no link and no `If` header is `OWNER`.

Lock-token rules (RFC 4918 §7, §10.4), `check_tokens`: a write must present the token of a
lock on the resource, of a depth-infinity lock above it, of the lock on the collection whose
membership changes (`member_change`), and for a recursive operation of any lock below it
(`recursive`). One token of a shared lock admits the write for all shared locks it meets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rmail.store.drive.entries import Entry, Quota
from rmail.store.drive.locks import DavLock
from rmail.store.drive.paths import DrivePath
from rmail.store.errors import Conflict, PreconditionFailed, StoreError

__all__ = ["OWNER", "IsDirectory", "Locked", "Rules", "WriteRefused", "check_preconditions",
           "check_tokens"]


class WriteRefused(StoreError):
    """The share link's permissions do not allow this write (HTTP 403)."""


class Locked(StoreError):
    """A WebDAV lock covers the write and its token was not presented (HTTP 423,
    `DAV:lock-token-submitted`)."""

    condition = "lock-token-submitted"  # the RFC 4918 §16 precondition a DAV body names

    def __init__(self, lock: DavLock) -> None:
        super().__init__(f"/{lock.path} is locked")
        self.lock = lock


class IsDirectory(Conflict):
    """A file operation aimed at a directory (HTTP 409; 405 for a WebDAV PUT)."""


@dataclass(frozen=True)
class Rules:
    """The caller's side of a write (see the module docstring)."""

    tokens: frozenset[str] = frozenset()
    share: str | None = None          # the UID of the share link the request came through
    quota: Quota | None = None
    if_match: tuple[str, ...] | None = None   # etags one of which the file must have; "*": any
    if_none_match: bool = False               # If-None-Match: * (the target must not exist)


OWNER = Rules()


def check_tokens(locks: Iterable[DavLock], tokens: frozenset[str], path: DrivePath, *,
                 member_change: bool = True, recursive: bool = False) -> None:
    """Raise `Locked` unless every lock this write falls under had its token presented."""
    needed: dict[str, DavLock] = {}
    for lk in locks:
        if lk.covers(path) or (member_change and not path.is_root and lk.covers(path.parent)) \
                or (recursive and lk.root.is_within(path)):
            needed[lk.token] = lk
    if not needed:
        return
    shared_ok = any(lk.scope == "shared" and t in tokens for t, lk in needed.items())
    for token, lk in needed.items():
        if token in tokens or (lk.scope == "shared" and shared_ok):
            continue
        raise Locked(lk)


def check_preconditions(path: DrivePath, old: Entry | None, rules: Rules) -> None:
    """If-Match / If-None-Match: * against the current entry (None: nothing there)."""
    if rules.if_none_match and old is not None:
        raise PreconditionFailed(f"{path} exists")
    if rules.if_match is not None:
        if old is None or old.is_dir:
            raise PreconditionFailed(f"{path} does not exist")
        if "*" not in rules.if_match and old.etag not in rules.if_match:
            raise PreconditionFailed(f"{path} has changed")
