"""The WebDAV `If` header (RFC 4918 §10.4), evaluated before a write's body is read.

`check_if` evaluates the header (412 when no state list holds) and returns the lock tokens the
client submitted. Which locks a write must present tokens for is the store's business: every
write hands the tokens to its one store call (`Ctx.rules`), which checks them under the drive
lock (`rmail.store.drive.rules.check_tokens`), so a LOCK granted meanwhile is never missed.
"""

from __future__ import annotations

from rmail.store.drive import DavLock, DrivePath, Entry
from rmail.store.errors import NotFound, UnsafeName
from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError
from rmail.web.drive.ifheader import (
    Condition,
    IfHeaderError,
    StateList,
    parse_if,
    submitted_tokens,
)

__all__ = ["check_if"]


async def check_if(ctx: Ctx) -> set[str]:
    header = ctx.request.headers.get("If")
    if header is None:
        return set()
    try:
        lists = parse_if(header)
    except IfHeaderError as exc:
        raise DriveError(400, f"bad If header: {exc}") from None
    return await ctx.run(_evaluate, ctx, lists)


def _evaluate(ctx: Ctx, lists: list[StateList]) -> set[str]:
    locks = ctx.drive.locks.active()
    for sl in lists:
        try:
            path = ctx.path if sl.resource is None else ctx.path_from_url(sl.resource)
        except (DriveError, UnsafeName):
            continue
        entry = _stat(ctx, path)
        if all(_holds(c, path, entry, locks) for c in sl.conditions):
            return submitted_tokens(lists)
    raise DriveError(412, "no condition of the If header holds")


def _stat(ctx: Ctx, path: DrivePath) -> Entry | None:
    try:
        return ctx.drive.stat(path)
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
