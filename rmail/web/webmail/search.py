"""`GET /webmail/search?q=...&scope=folder|all&folder=...`: messages whose subject, sender,
recipients or opening text contain every word of `q` (case-insensitive), newest first.

It reads the summaries (meta files) of the newest `MAX_SCAN` messages of each folder searched,
so a search costs at most that many small reads whatever the folder size; older messages are
not searched and the page says so. Results use the message-list markup, each row's
`data-folder` naming its folder.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from rmail.store.errors import CorruptStore, NotFound
from rmail.store.mailbox import UserMailbox
from rmail.web.webmail.context import Page, view
from rmail.web.webmail.folders import folder_from_url, sidebar_sync
from rmail.web.webmail.mailbox import PAGE_SIZE, MessageRow, make_row

__all__ = ["routes", "search_sync"]

routes = web.RouteTableDef()
MAX_SCAN = 20_000    # newest messages read per folder
MAX_HITS = 1_000     # results kept per search
MAX_QUERY = 500


def _haystack(summary: dict[str, Any]) -> str:
    people = [summary.get("from") or {}, *(summary.get("to") or []),
              *(summary.get("cc") or [])]
    names = " ".join(f"{p.get('name', '')} {p.get('address', '')}" for p in people if p)
    return f"{summary.get('subject') or ''} {names} {summary.get('intro') or ''}".casefold()


def search_sync(mailbox: UserMailbox, folders: list[str], words: list[str],
                tz: dt.tzinfo) -> tuple[list[MessageRow], bool]:
    """(hits newest first per folder, whether a folder had more than MAX_SCAN messages)."""
    hits: list[MessageRow] = []
    capped = False
    for name in folders:
        try:
            folder = mailbox.folder(name)
        except NotFound:
            continue
        recs = folder.records(0, MAX_SCAN)
        capped = capped or folder.status().count > MAX_SCAN
        for rec in recs:
            try:
                summary = folder.meta(rec.uid).get("summary") or {}
            except (NotFound, CorruptStore):
                continue
            text = _haystack(summary)
            if all(w in text for w in words):
                row = make_row(folder, rec, tz)
                if row is not None:
                    hits.append(row)
                    if len(hits) >= MAX_HITS:
                        return hits, True
    return hits, capped


@routes.get("/webmail/search")
@view()
async def search(page: Page) -> web.StreamResponse:
    q = page.request.query.get("q", "")[:MAX_QUERY].strip()
    scope = "all" if page.request.query.get("scope") == "all" else "folder"
    folder = folder_from_url(page.request.query.get("folder") or "INBOX")
    offset = page.query_int("offset", 0, 0, MAX_HITS)
    words = [w.casefold() for w in q.split()]

    def run() -> tuple[list[Any], list[MessageRow], bool]:
        side = sidebar_sync(page.mailbox)
        names = [f.name for f in side if f.selectable] if scope == "all" else [folder]
        if not words:
            return side, [], False
        hits, capped = search_sync(page.mailbox, names, words, page.tz)
        return side, hits, capped

    side, hits, capped = await page.run(run)
    page._sidebar = side
    return await page.render(
        "search.html", title=f"Search: {q}" if q else "Search", query=q, scope=scope,
        folder=folder, search_folder=folder, rows=hits[offset:offset + PAGE_SIZE],
        total=len(hits), offset=offset, limit=PAGE_SIZE, capped=capped, max_scan=MAX_SCAN,
        now=dt.datetime.now(dt.UTC))
