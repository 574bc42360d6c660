"""Preconditions every write shares: the `If` header and WebDAV locks (RFC 4918 §7, §10.4).

`check_if` evaluates the header (412 when no state list holds) and returns the lock tokens the
client submitted; `require_tokens` refuses (423) a write that falls under a lock whose token was
not submitted: a lock on the resource, a depth-infinity lock above it, the lock of the
collection whose membership changes, and for a recursive operation any lock below.
"""

from __future__ import annotations

import asyncio

from rmail.store.drive import DrivePath, Entry
from rmail.store.drivelocks import DavLock
from rmail.store.errors import NotFound, UnsafeName
from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError
from rmail.web.drive.ifheader import Condition, IfHeaderError, parse_if, submitted_tokens

__all__ = ["check_if", "require_tokens"]


async def check_if(ctx: Ctx) -> set[str]:
    header = ctx.request.headers.get("If")
    if header is None:
        return set()
    try:
        lists = parse_if(header)
    except IfHeaderError as exc:
        raise DriveError(400, f"bad If header: {exc}") from None
    locks = await asyncio.to_thread(ctx.locks.active)
    for sl in lists:
        try:
            path = ctx.path if sl.resource is None else ctx.path_from_url(sl.resource)
        except (DriveError, UnsafeName):
            continue
        entry = await _stat(ctx, path)
        if all(_holds(c, path, entry, locks) for c in sl.conditions):
            return submitted_tokens(lists)
    raise DriveError(412, "no condition of the If header holds")


async def _stat(ctx: Ctx, path: DrivePath) -> Entry | None:
    try:
        return await asyncio.to_thread(ctx.drive.stat, path)
    except NotFound:
        return None


def _holds(c: Condition, path: DrivePath, entry: Entry | None, locks: list[DavLock]) -> bool:
    if c.kind == "token":
        value = any(lk.token == c.value and (
            lk.covers(path) or (not path.is_root and lk.covers(path.parent))
            or lk.root.is_within(path)) for lk in locks)
    else:
        tag = c.value[2:] if c.value.startswith("W/") else c.value
        value = entry is not None and bool(entry.etag) and tag == entry.etag
    return value != c.negated


async def require_tokens(ctx: Ctx, tokens: set[str], path: DrivePath, *,
                         member_change: bool = True, recursive: bool = False) -> None:
    locks = await asyncio.to_thread(ctx.locks.active)
    if not locks:
        return
    needed: dict[str, DavLock] = {}
    for lk in locks:
        if lk.covers(path) or (member_change and not path.is_root and lk.covers(path.parent)) \
                or (recursive and lk.root.is_within(path)):
            needed[lk.token] = lk
    shared_ok = any(lk.scope == "shared" and t in tokens for t, lk in needed.items())
    for token, lk in needed.items():
        if token in tokens or (lk.scope == "shared" and shared_ok):
            continue
        raise DriveError(423, f"/{lk.path} is locked", condition="lock-token-submitted")
