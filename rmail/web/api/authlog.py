"""`GET /users/{user}/authlog`: the account's auth log with WildDuck's paging.

`limit` (1-250, default 20), `next` / `previous` (opaque cursors from an earlier answer),
`page` (echoed, for the client's own numbering), `action` (only entries of this action).
Newest first; `total` counts the entries matching `action` (30 days at most are kept).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from aiohttp import web

from rmail.store.authlog import public_entry
from rmail.web.api.base import core, query_int, run
from rmail.web.api.users import resolve_user, success
from rmail.web.errors import ApiError

routes = web.RouteTableDef()

ACTIONS = ("authentication", "password change", "create asp", "delete asp", "enable 2fa",
           "new recovery codes", "disable 2fa", "lockout")
_ID_RE = re.compile(r"[0-9a-f]{24}")


def encode_cursor(direction: str, entry_id: str) -> str:
    return base64.urlsafe_b64encode(f"{direction}:{entry_id}".encode()).decode().rstrip("=")


def decode_cursor(raw: str, direction: str) -> str:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(400, "Invalid cursor") from None
    kind, _, entry_id = text.partition(":")
    if kind != direction or not _ID_RE.fullmatch(entry_id):
        raise ApiError(400, "Invalid cursor")
    return entry_id


def page_of(entries: list[dict[str, Any]], limit: int, after: str | None,
            before: str | None) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """(entries of the page, next cursor, previous cursor); `entries` newest first."""
    if after is not None:  # older than `after`
        start = next((i for i, e in enumerate(entries) if e["id"] < after), len(entries))
        chosen = entries[start:start + limit]
    elif before is not None:  # newer than `before`: the `limit` just above it
        end = next((i for i, e in enumerate(entries) if e["id"] <= before), len(entries))
        start = max(0, end - limit)
        chosen = entries[start:end]
    else:
        start = 0
        chosen = entries[:limit]
    has_older = start + len(chosen) < len(entries)
    has_newer = start > 0
    nxt = encode_cursor("next", chosen[-1]["id"]) if chosen and has_older else None
    prev = encode_cursor("previous", chosen[0]["id"]) if chosen and has_newer else None
    return chosen, nxt, prev


@routes.get("/users/{user}/authlog")
async def authlog(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    limit = query_int(request, "limit", 20, 1, 250)
    page = query_int(request, "page", 1, 1, 1_000_000)
    action = request.query.get("action") or None
    if action is not None and action not in ACTIONS:
        raise ApiError(400, f"Parameter action must be one of: {', '.join(ACTIONS)}")
    nxt_raw, prev_raw = request.query.get("next"), request.query.get("previous")
    if nxt_raw and prev_raw:
        raise ApiError(400, "Give next or previous, not both")
    after = decode_cursor(nxt_raw, "next") if nxt_raw else None
    before = decode_cursor(prev_raw, "previous") if prev_raw else None
    entries = await run(request, core(request).auth.authlog.entries, target.domain, target.username)
    if action is not None:
        entries = [e for e in entries if e.get("action") == action]
    chosen, nxt, prev = page_of(entries, limit, after, before)
    return success({"action": action, "total": len(entries), "page": page,
                    "previousCursor": prev, "nextCursor": nxt,
                    "results": [public_entry(e) for e in chosen]})
