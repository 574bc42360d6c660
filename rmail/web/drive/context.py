"""From a request to a `Ctx`: who is asking (owner by Basic/Bearer, or a share link), which drive
and which validated path, and how to write hrefs back.

URL paths are split on `/` in their raw, percent-encoded form and only then decoded, one
component at a time, so `%2f` can never become a separator and `%2e%2e` meets the name gate as
`..`. Every component passes `DrivePath` (the one gate) before anything touches the disk.

`/drive/{uid}/{name}/{subpath}` is a share link when the first component is a 32-character UID
with a share record; anything else under `/drive/` is the caller's own drive. A UID-shaped first
component whose share was revoked or has expired answers 404 to a request without credentials
(the same answer as any unknown link); with credentials it is the owner's path of that name
(owners may name a folder with 32 URL-safe characters; UIDs may start with `_` or `-`, which no
owner's folder can).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

from aiohttp import web

from rmail.auth import Principal
from rmail.config import Config
from rmail.services import Services
from rmail.store.accounts import Account
from rmail.store.drive import DrivePath, DriveStore, Quota, Rules, Share, ShareStore, UserDrive
from rmail.store.drive.shares import UID_RE, check_share_name
from rmail.store.errors import InvalidValue, NotFound, UnsafeName
from rmail.store.usage import drive_quota
from rmail.web.auth import authenticate as front_door
from rmail.web.drive.errors import BASIC_CHALLENGE, DriveError

__all__ = ["DRIVE_KEY", "PREFIX", "Ctx", "DriveServices", "parse_if_match", "resolve",
           "split_raw_path"]

PREFIX = "/drive/"
T = TypeVar("T")


@dataclass(frozen=True)
class DriveServices:
    """The drive's long-lived objects (one per app)."""

    config: Config
    core: Services
    drives: DriveStore
    shares: ShareStore


DRIVE_KEY = web.AppKey("drive", DriveServices)


@dataclass
class Ctx:
    """One request against one drive."""

    request: web.Request
    svc: DriveServices
    drive: UserDrive
    account: Account
    path: DrivePath           # in the owner's drive
    root: DrivePath           # what this URL space can reach: () or the share's target
    href_root: str            # URL path of `root` ("/drive/" or "/drive/{uid}/{name}")
    share: Share | None = None
    principal: Principal | None = None

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Store work off the loop, on the process's store pool (`Services.run`)."""
        return await self.svc.core.run(fn, *args, **kwargs)

    def href(self, path: DrivePath, is_dir: bool) -> str:
        """The percent-encoded URL path of `path` (collections end with `/`)."""
        rel = path.relative_to(self.root)
        base = self.href_root
        if rel.is_root:
            return base if not is_dir or base.endswith("/") else base + "/"
        if not base.endswith("/"):
            base += "/"
        tail = "/".join(quote(p, safe="") for p in rel.parts)
        return base + tail + ("/" if is_dir else "")

    def quota(self) -> Quota:
        return drive_quota(self.svc.core.mail, self.account.domain, self.account.username,
                           self.account.quota_bytes)

    def rules(self, tokens: set[str] | frozenset[str] = frozenset(), *,
              quota: Quota | None = None) -> Rules:
        """What this request imposes on a write: its lock tokens, its share link, its
        If-Match / If-None-Match, and `quota` (from `quota()`, in a worker thread)."""
        headers = self.request.headers
        if_match = parse_if_match(headers.get("If-Match"))
        return Rules(tokens=frozenset(tokens),
                     share=self.share.uid if self.share is not None else None, quota=quota,
                     if_match=tuple(if_match) if if_match is not None else None,
                     if_none_match=headers.get("If-None-Match", "").strip() == "*")

    def require(self, letter: str, what: str) -> None:
        """A share link must carry permission `letter` for `what`."""
        if self.share is not None and not self.share.allows(letter):
            raise DriveError(403, f"this share link does not allow {what}")

    def path_from_url(self, url: str) -> DrivePath:
        """A `Destination` (absolute URL or path) inside this same URL space."""
        parts = urlsplit(url)
        if parts.netloc and parts.netloc.lower() != (self.request.host or "").lower():
            raise DriveError(502, "Destination is on another server")
        segments = split_raw_path(parts.path)
        if segments is None:
            raise DriveError(502, "Destination is outside the drive")
        return self.svc_path(segments)

    def svc_path(self, segments: list[str]) -> DrivePath:
        if self.share is not None:
            if len(segments) < 1 or segments[0] != self.share.uid:
                raise DriveError(403, "Destination is outside this share")
            return self.root.join(DrivePath.from_parts(segments[2:]))
        return DrivePath.from_parts(segments)


def parse_if_match(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [t.strip() for t in value.split(",") if t.strip()]


def split_raw_path(raw: str) -> list[str] | None:
    """Components after `/drive/`, each percent-decoded on its own; None when not under it.
    One trailing `/` is allowed; empty components are refused."""
    if raw in ("/drive", PREFIX):
        return []
    if not raw.startswith(PREFIX):
        return None
    tail = raw[len(PREFIX):]
    if tail.endswith("/"):
        tail = tail[:-1]
    out = []
    for seg in tail.split("/"):
        try:
            name = unquote(seg, errors="strict")
        except UnicodeDecodeError:
            raise UnsafeName("path is not valid UTF-8") from None
        if not name:
            raise UnsafeName("path has an empty component")
        out.append(name)
    return out


async def authenticate(request: web.Request, core: Services) -> Principal:
    """Basic `user@domain:password` (or an app password) or a Bearer JWT, through the one front
    door (`rmail.web.auth`); a 401 carries the drive's Basic challenge so WebDAV clients
    prompt for a password."""
    return await front_door(request, challenge=BASIC_CHALLENGE, scope="dav")


async def resolve(request: web.Request, *, allow_share: bool = True) -> Ctx:
    svc = request.app[DRIVE_KEY]
    if request.rel_url.raw_fragment:
        raise DriveError(400, "a request URI cannot carry a #fragment")
    segments = split_raw_path(request.rel_url.raw_path)
    if segments is None:
        raise DriveError(404, "Not found")
    if segments and UID_RE.fullmatch(segments[0]):
        try:
            share: Share | None = await svc.core.run(svc.shares.get, segments[0])
        except NotFound:
            share = None
        if share is not None:
            if not allow_share:
                raise DriveError(403, "not allowed on a share link")
            return await _share_ctx(request, svc, share, segments)
        if "Authorization" not in request.headers:
            raise DriveError(404, "no such share")  # revoked, or never existed
    principal = await authenticate(request, svc.core)
    account = principal.account
    drive = svc.drives.cached(account.domain, account.username)
    if drive is None:
        drive = await svc.core.run(svc.drives.drive, account.domain, account.username)
    return Ctx(request, svc, drive, account, DrivePath.from_parts(segments), DrivePath(),
               PREFIX, principal=principal)


async def _share_ctx(request: web.Request, svc: DriveServices, share: Share,
                     segments: list[str]) -> Ctx:
    if share.expired():
        raise DriveError(404, "no such share")
    if len(segments) >= 2:
        try:
            check_share_name(segments[1])
        except InvalidValue:
            raise DriveError(400, "invalid share name in the link") from None
    sub = DrivePath.from_parts(segments[2:])
    try:
        account = await svc.core.run(svc.core.accounts.get, share.domain, share.username)
        drive = await svc.core.run(svc.drives.drive, share.domain, share.username)
    except (NotFound, InvalidValue):
        raise DriveError(404, "no such share") from None
    target = share.target
    name = segments[1] if len(segments) >= 2 else share.name
    href_root = f"{PREFIX}{share.uid}/{quote(name, safe='')}"
    return Ctx(request, svc, drive, account, target.join(sub), target, href_root, share=share)
