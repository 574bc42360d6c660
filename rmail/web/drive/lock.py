"""LOCK (RFC 4918 §9.10): new exclusive or shared write locks at Depth 0 or infinity, refresh
with an `If` header and no body, and locking an unmapped URL (which creates an empty file).
Owner only: share links cannot lock."""

from __future__ import annotations

from aiohttp import web

from rmail.store.drive import DavLock
from rmail.store.drive.locks import DEFAULT_TIMEOUT, MAX_TIMEOUT
from rmail.web.drive import davxml as X
from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError
from rmail.web.drive.ifheader import IfHeaderError, parse_if, submitted_tokens
from rmail.web.drive.locking import check_if
from rmail.web.drive.propfind import read_xml_body
from rmail.web.drive.props import lock_elements

__all__ = ["handle", "parse_timeout"]


def parse_timeout(value: str | None) -> int:
    """`Timeout: Second-600, Infinite` -> seconds (the first usable choice)."""
    if not value:
        return DEFAULT_TIMEOUT
    for choice in value.split(","):
        choice = choice.strip()
        if choice.lower() == "infinite":
            return MAX_TIMEOUT
        if choice.lower().startswith("second-"):
            try:
                return max(1, min(int(choice[7:]), MAX_TIMEOUT))
            except ValueError:
                continue
    return DEFAULT_TIMEOUT


def _response(ctx: Ctx, lock: DavLock, status: int) -> web.Response:
    els = lock_elements([lock], lambda lk: ctx.href(lk.root, False))
    body = X.prop_document([X.lockdiscovery_prop(els)])
    return web.Response(status=status, body=body, content_type="application/xml",
                        charset="utf-8", headers={"Lock-Token": f"<{lock.token}>"})


async def handle(ctx: Ctx) -> web.StreamResponse:
    if ctx.share is not None:
        raise DriveError(403, "LOCK is not allowed on shared resources")
    body = await read_xml_body(ctx)
    timeout = parse_timeout(ctx.request.headers.get("Timeout"))
    if not body.strip():
        return await _refresh(ctx, timeout)
    try:
        info = X.parse_lockinfo(body)
    except X.XmlError as exc:
        raise DriveError(400, str(exc)) from None
    depth = ctx.request.headers.get("Depth", "infinity").strip().lower()
    if depth not in ("0", "infinity"):
        raise DriveError(400, "LOCK takes Depth 0 or infinity")
    tokens = await check_if(ctx)
    # granted under the drive lock; an unmapped URL becomes an empty file (RFC 4918 §7.3)
    lock, created = await ctx.run(
        ctx.drive.lock, ctx.path, scope=info.scope, depth=depth, owner=info.owner,
        timeout=timeout, principal=ctx.account.address, rules=ctx.rules(tokens))
    return _response(ctx, lock, 201 if created else 200)


async def _refresh(ctx: Ctx, timeout: int) -> web.StreamResponse:
    header = ctx.request.headers.get("If")
    if not header:
        raise DriveError(400, "a LOCK without a body refreshes a lock named in the If header")
    try:
        tokens = submitted_tokens(parse_if(header))
    except IfHeaderError as exc:
        raise DriveError(400, f"bad If header: {exc}") from None
    locks = await ctx.run(ctx.drive.locks.active)
    for lk in locks:
        if lk.token in tokens and (lk.covers(ctx.path) or lk.root.is_within(ctx.path)):
            refreshed = await ctx.run(ctx.drive.locks.refresh, lk.token, timeout)
            return _response(ctx, refreshed, 200)
    raise DriveError(412, "no lock of the If header applies to this resource",
                     condition="lock-token-matches-request-uri")
