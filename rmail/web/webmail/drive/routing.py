"""Which page a `/webmail/drive/...` URL names: the owner's file manager, the owner's share
pages, or a visitor's view of a public share link. Pure: the caller passes the segments (each
percent-decoded on its own, so `%2f` never becomes a separator), whether a session exists, and
a lookup of live shares.

```
/webmail/drive/                                   owner: the drive root        (session)
/webmail/drive/{path}                             owner: a folder, or a file   (session)
/webmail/drive/{path}/_share                      owner: shares of that entry  (session)
/webmail/drive/[{path}/]_upload|_mkdir|_delete|_rename   owner's form targets  (session)
/webmail/drive/_shared                            owner: every share           (session)
/webmail/drive/_shared/_revoke                    owner: revoke one            (session)
/webmail/drive/{uid}                              visitor: 302 to the named form below
/webmail/drive/{uid}/{name}[/{subpath}]           visitor: a shared folder or file (no login)
/webmail/drive/{uid}/{name}[/{subpath}]/_upload|_mkdir|_delete   visitor's form targets
```

Where both could match, this decides (and the tests pin it down):
1. The first segment names a LIVE share (32 URL-safe characters, a record that has not
   expired): the public view, with or without a session. A share UID is 192 random bits, so
   an owner's folder of the same name exists only if someone copied a link into a folder name;
   that folder stays reachable over the JSON drive and WebDAV by the owner, who can rename it.
2. The first segment is UID-shaped but no live share has it (revoked, expired, never
   existed): without a session, 404, the same answer a live link's missing subpath gets, so a
   dead link looks the same everywhere; with a session, the owner's own path (owners may name
   folders with 32 URL-safe characters). A UID starting with `_` can never be an owner's path
   (`_` is reserved in drive names), so it is always 404 when no live share has it.
3. Anything else is the owner's path and needs the session (303 to the login page).

Action segments start with `_`, which no drive name may, so they never shadow an entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rmail.store.drive import DrivePath, Share
from rmail.store.drive.shares import UID_RE, check_share_name
from rmail.store.errors import InvalidValue, NotFound, UnsafeName

__all__ = ["OWNER_ACTIONS", "PUBLIC_ACTIONS", "DeadLink", "OwnerPage", "PublicPage",
           "SharedList", "route"]

OWNER_ACTIONS = frozenset(("_share", "_upload", "_mkdir", "_delete", "_rename"))
PUBLIC_ACTIONS = frozenset(("_upload", "_mkdir", "_delete"))


@dataclass(frozen=True)
class OwnerPage:
    path: DrivePath
    action: str | None = None        # one of OWNER_ACTIONS, None: browse or open a file


@dataclass(frozen=True)
class SharedList:
    revoke: bool = False             # `/_shared/_revoke`


@dataclass(frozen=True)
class PublicPage:
    share: Share
    name: str | None                 # the decorative name segment (None: redirect to it)
    sub: DrivePath                   # below the share's target
    action: str | None = None        # one of PUBLIC_ACTIONS


@dataclass(frozen=True)
class DeadLink:
    """A share link that does not (or no longer) work: 404, whoever asks."""


Route = OwnerPage | SharedList | PublicPage | DeadLink


def route(segments: list[str], *, logged_in: bool,
          live_share: Callable[[str], Share | None]) -> Route:
    """Decide (see the module docstring). Raises UnsafeName / InvalidValue for a name that
    fails the drive's gate (400), NotFound for an unknown action segment."""
    if segments and UID_RE.fullmatch(segments[0]):
        share = live_share(segments[0])
        if share is not None:
            return _public(share, segments[1:])
        if not logged_in or segments[0].startswith("_"):
            return DeadLink()
    if segments[:1] == ["_shared"]:
        if segments[1:] == []:
            return SharedList()
        if segments[1:] == ["_revoke"]:
            return SharedList(revoke=True)
        raise NotFound("no such page")
    action = None
    if segments and segments[-1].startswith("_"):
        action = segments[-1]
        if action not in OWNER_ACTIONS:
            raise NotFound("no such page")
        segments = segments[:-1]
    path = DrivePath.from_parts(segments)
    if action == "_share" and path.is_root:
        raise InvalidValue("the drive root cannot be shared")
    return OwnerPage(path, action)


def _public(share: Share, rest: list[str]) -> PublicPage:
    if not rest:
        return PublicPage(share, None, DrivePath())
    try:
        name = check_share_name(rest[0])
    except InvalidValue:
        raise UnsafeName("invalid share name in the link") from None
    rest = rest[1:]
    action = None
    if rest and rest[-1].startswith("_"):
        action = rest[-1]
        if action not in PUBLIC_ACTIONS:
            raise NotFound("no such page")
        rest = rest[:-1]
    return PublicPage(share, name, DrivePath.from_parts(rest), action)
