"""`GET /users/{user}/search?q=`: account-wide search through the user's full-text index
(`rmail.store.searchindex`), answered in the message-list shape, newest first, with a
`nextCursor` (the index position the page ended at).

Every folder is searched except Trash and Junk (WildDuck's rule): `mailbox=` narrows to one,
`includeTrash=true` widens. The server's indexer (`rmail.scheduling.indexer`) keeps the index
in step with the change bus; a search only catches up on what an event may have missed (one
index read per unchanged folder, at most `CATCHUP` messages indexed), so the first search after
a burst of deliveries does not pay for indexing them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from rmail.mail.searchquery import QueryError, fts_expression, parse_query
from rmail.store.errors import NotFound
from rmail.store.searchindex import CATCHUP, CATCHUP_WAIT, search_index
from rmail.web.api.base import query_bool, query_int, run
from rmail.web.api.mailboxes import find_folder, mailbox_id, selectable, user_mailbox
from rmail.web.api.messages import DEFAULT_LIMIT, MAX_LIMIT, list_item, summary_of
from rmail.web.api.users import resolve_user, success
from rmail.web.errors import ApiError

__all__ = ["routes"]

routes = web.RouteTableDef()
EXCLUDED = ("\\Trash", "\\Junk")
MAX_THREAD = 1000


def _cursor(row: int, page: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([1, row, page])).decode().rstrip("=")


def _uncursor(raw: str) -> tuple[int, int]:
    try:
        if len(raw) > 100:
            raise ValueError
        version, row, page = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if version != 1 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                   for v in (row, page)):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise ApiError(400, "Invalid cursor") from None
    return row, min(page, 2**31)


@routes.get("/users/{user}/search")
async def search(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    q = request.query.get("q", "")
    if not q.strip():
        raise ApiError(400, "Parameter q is required")
    try:
        query = parse_query(q)
    except QueryError as exc:
        raise ApiError(400, str(exc)) from None
    match = fts_expression(query)
    if match is None and not query.has_filters:
        raise ApiError(400, "Nothing to search for")
    limit = query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    include_trash = query_bool(request, "includeTrash")
    narrow = request.query.get("mailbox")
    before_row, page = _uncursor(request.query["next"]) if request.query.get("next") else (
        None, 1)
    mailbox = user_mailbox(request, target)

    def answer() -> dict[str, Any]:
        if narrow:
            folders = [find_folder(mailbox, narrow)[1]]
        else:
            folders = [f for entry, f in selectable(mailbox)
                       if include_trash or entry.special_use not in EXCLUDED]
        index = search_index(mailbox)
        index.sync(budget=CATCHUP, wait=CATCHUP_WAIT)
        by_id = {f.id: f for f in folders}
        try:
            found, more = index.find(query, by_id, limit=limit, before_row=before_row)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        results = []
        for hit, rec in found:
            folder = by_id[hit.folder_id]
            summary = summary_of(folder, hit.uid)
            if summary is not None:
                results.append(list_item(folder, mailbox_id(folder), rec, summary))
        # no `total`: counting every match would cost what paging saves
        out: dict[str, Any] = {"page": page, "previousCursor": False, "nextCursor": False,
                               "previous": False, "next": False, "results": results}
        if more and found:
            cursor = _cursor(found[-1][0].row, page + 1)
            params = {k: v for k, v in request.query.items() if k != "next"}
            out["nextCursor"] = cursor
            out["next"] = request.path + "?" + urlencode({**params, "next": cursor})
        return out

    return success(await run(request, answer))


@routes.get(r"/users/{user}/threads/{thread:T[0-9a-f]{20}}")
async def thread(request: web.Request) -> web.Response:
    """Every message of a thread in any mailbox (Trash and Junk included), oldest first, in
    the message-list shape; 404 when none is left."""
    target = await resolve_user(request)
    thread_id = request.match_info["thread"]
    mailbox = user_mailbox(request, target)

    def answer() -> list[dict[str, Any]]:
        folders = {f.id: f for _, f in selectable(mailbox)}
        index = search_index(mailbox)
        index.sync(budget=CATCHUP, wait=CATCHUP_WAIT)
        results = []
        for hit in index.thread(thread_id, folders=list(folders), limit=MAX_THREAD):
            folder = folders[hit.folder_id]
            try:
                rec = folder.record(hit.uid)
            except NotFound:  # expunged since the sync
                continue
            summary = summary_of(folder, hit.uid)
            if summary is not None:
                results.append(list_item(folder, mailbox_id(folder), rec, summary))
        return results

    results = await run(request, answer)
    if not results:
        raise ApiError(404, "No such thread")
    return success({"results": results})
