"""`GET /webmail/search?q=...&scope=folder|all&folder=...`: the user's full-text index
(`rmail.store.searchindex`, kept by the server's indexer; the same index and search language as
`GET /users/{user}/search` and IMAP SEARCH BODY): every word or `"phrase"` in the subject,
people (From, To, Cc, with names), message text or text attachments, case and diacritics
folded, with `from:` `to:` `subject:` `has:attachment` `is:unread` `is:flagged` `before:`
`after:` `larger:` `smaller:`. A query the language refuses is shown as a form error.

The index is walked from the newest indexed message; at most `MAX_HITS` hits are kept (the page
says so), sorted newest first by arrival date, so a search costs its own hits, not the size of
the folders. Results use the message-list markup, each row's `data-folder` naming its folder.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from rmail.mail.searchquery import QueryError, fts_expression, parse_query
from rmail.store.errors import NotFound
from rmail.store.journal import MessageRecord
from rmail.store.mailbox import Folder, UserMailbox
from rmail.store.searchindex import CATCHUP, CATCHUP_WAIT, search_index
from rmail.web.webmail.context import Page, view
from rmail.web.webmail.folders import folder_from_url, sidebar_sync
from rmail.web.webmail.mailbox import PAGE_SIZE, MessageRow, make_row

__all__ = ["routes", "search_sync"]

routes = web.RouteTableDef()
MAX_HITS = 2_000  # results kept per search
MAX_QUERY = 500


def search_sync(mailbox: UserMailbox, folders: list[str], q: str
                ) -> tuple[list[tuple[Folder, MessageRecord]], bool]:
    """(folder, record) of every hit, newest first; whether MAX_HITS cut the list. QueryError
    for a query the search language or the index refuses."""
    query = parse_query(q)
    if fts_expression(query) is None and not query.has_filters:
        raise QueryError("type a word to look for")
    chosen: dict[str, Folder] = {}
    for name in folders:
        try:
            folder = mailbox.folder(name)
        except NotFound:  # deleted meanwhile
            continue
        chosen[folder.id] = folder
    index = search_index(mailbox)
    # what a lost change event left behind; the indexer does the rest
    index.sync(budget=CATCHUP, wait=CATCHUP_WAIT)
    try:
        found, more = index.find(query, chosen, limit=MAX_HITS)
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    hits = [(chosen[hit.folder_id], rec) for hit, rec in found]
    hits.sort(key=lambda h: (h[1].internaldate, h[1].uid), reverse=True)
    return hits, more


def rows_of(hits: list[tuple[Folder, MessageRecord]], tz: dt.tzinfo) -> list[MessageRow]:
    return [row for folder, rec in hits if (row := make_row(folder, rec, tz)) is not None]


@routes.get("/webmail/search")
@view()
async def search(page: Page) -> web.StreamResponse:
    q = page.request.query.get("q", "")[:MAX_QUERY].strip()
    scope = "all" if page.request.query.get("scope") == "all" else "folder"
    folder = folder_from_url(page.request.query.get("folder") or "INBOX")
    offset = page.query_int("offset", 0, 0, MAX_HITS)
    tz = page.tz

    def run() -> tuple[list[Any], list[MessageRow], int, bool, str | None]:
        side = sidebar_sync(page.mailbox)
        names = [f.name for f in side if f.selectable] if scope == "all" else [folder]
        if not q:
            return side, [], 0, False, None
        try:
            hits, capped = search_sync(page.mailbox, names, q)
        except QueryError as exc:
            return side, [], 0, False, str(exc)
        return side, rows_of(hits[offset:offset + PAGE_SIZE], tz), len(hits), capped, None

    side, rows, total, capped, error = await page.run(run)
    page._sidebar = side
    return await page.render(
        "search.html", title=f"Search: {q}" if q else "Search", query=q, scope=scope,
        folder=folder, search_folder=folder, rows=rows, total=total, offset=offset,
        limit=PAGE_SIZE, capped=capped, max_hits=MAX_HITS, error=error,
        now=dt.datetime.now(dt.UTC))
