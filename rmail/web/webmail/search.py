"""`GET /webmail/search?q=...&scope=folder|all&folder=...`: messages whose subject, sender,
recipients (From, To, Cc, with names) or opening text contain every word of `q`
(case-insensitive), newest first.

Subject and people come from each folder's header cache (`Folder.header_records`, the store's
per-folder `headers.jsonl`, which IMAP SEARCH and SORT read too), so they are matched over the
whole folder without opening a message. The opening text (the summary's intro) lives in each
message's meta file: it is read only for messages the headers alone do not match, and only
among the newest `MAX_BODY_SCAN` of a folder, which bounds a search's reads whatever the folder
size. At most `MAX_HITS` results are kept (the page says so). Results use the message-list
markup, each row's `data-folder` naming its folder.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from rmail.mail.headerkeys import F_CC, F_FROM, F_SUBJECT, F_TO
from rmail.store.errors import CorruptStore, NotFound
from rmail.store.mailbox import Folder, UserMailbox
from rmail.web.webmail.context import Page, view
from rmail.web.webmail.folders import folder_from_url, sidebar_sync
from rmail.web.webmail.mailbox import PAGE_SIZE, MessageRow, make_row

__all__ = ["routes", "search_sync"]

routes = web.RouteTableDef()
MAX_HITS = 2_000       # results kept per search
MAX_BODY_SCAN = 20_000  # newest messages per folder whose opening text is searched
MAX_QUERY = 500
_SLOTS = (F_SUBJECT, F_FROM, F_TO, F_CC)


def search_sync(mailbox: UserMailbox, folders: list[str], words: list[str]
                ) -> tuple[list[tuple[int, str, int]], bool]:
    """((internal date, folder, uid) of every hit, newest first; whether MAX_HITS cut it)."""
    hits: list[tuple[int, str, int]] = []
    for name in folders:
        try:
            folder = mailbox.folder(name)
        except NotFound:
            continue
        uids = folder.uids()
        records = folder.header_records(uids)
        body_from = len(uids) - MAX_BODY_SCAN
        for i, (uid, rec) in enumerate(zip(uids, records, strict=True)):
            if rec is None:
                continue
            text = " ".join(str(rec[slot]) for slot in _SLOTS if rec[slot]).casefold()
            if not all(w in text for w in words) and i >= body_from:
                text += " " + _intro(folder, uid)
            if all(w in text for w in words):
                try:
                    hits.append((folder.record(uid).internaldate, folder.name, uid))
                except NotFound:  # expunged meanwhile
                    continue
    hits.sort(key=lambda h: (h[0], h[2]), reverse=True)
    return hits[:MAX_HITS], len(hits) > MAX_HITS


def _intro(folder: Folder, uid: int) -> str:
    try:
        return str((folder.meta(uid).get("summary") or {}).get("intro") or "").casefold()
    except (NotFound, CorruptStore):
        return ""


def rows_of(mailbox: UserMailbox, hits: list[tuple[int, str, int]], tz: dt.tzinfo
            ) -> list[MessageRow]:
    rows = []
    for _, name, uid in hits:
        try:
            folder = mailbox.folder(name)
            row = make_row(folder, folder.record(uid), tz)
        except NotFound:
            continue
        if row is not None:
            rows.append(row)
    return rows


@routes.get("/webmail/search")
@view()
async def search(page: Page) -> web.StreamResponse:
    q = page.request.query.get("q", "")[:MAX_QUERY].strip()
    scope = "all" if page.request.query.get("scope") == "all" else "folder"
    folder = folder_from_url(page.request.query.get("folder") or "INBOX")
    offset = page.query_int("offset", 0, 0, MAX_HITS)
    words = [w.casefold() for w in q.split()]
    tz = page.tz

    def run() -> tuple[list[Any], list[MessageRow], int, bool]:
        side = sidebar_sync(page.mailbox)
        names = [f.name for f in side if f.selectable] if scope == "all" else [folder]
        if not words:
            return side, [], 0, False
        hits, capped = search_sync(page.mailbox, names, words)
        return side, rows_of(page.mailbox, hits[offset:offset + PAGE_SIZE], tz), len(hits), \
            capped

    side, rows, total, capped = await page.run(run)
    page._sidebar = side
    return await page.render(
        "search.html", title=f"Search: {q}" if q else "Search", query=q, scope=scope,
        folder=folder, search_folder=folder, rows=rows, total=total, offset=offset,
        limit=PAGE_SIZE, capped=capped, max_hits=MAX_HITS, now=dt.datetime.now(dt.UTC))
