"""The message list of a folder (`GET /webmail/{folder}`, `/webmail/folder/{folder}` for names
whose first level is a reserved word) and bulk actions on checked rows (`POST /webmail/bulk`).

A page costs O(page size) whatever the folder size: `Folder.records(offset, limit)` reads the
in-memory index, and meta records are read only for the rows shown. Bulk actions make the same
store calls as the IMAP commands they stand for (STORE, MOVE, EXPUNGE), so an IMAP client
watching the folder sees the change at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from rmail.store.errors import CorruptStore, NotFound
from rmail.store.journal import SEEN, MessageRecord
from rmail.store.mailbox import Folder, UserMailbox
from rmail.web.errors import HttpError
from rmail.web.webmail import format as fmt
from rmail.web.webmail.context import Page, view
from rmail.web.webmail.folders import FolderView, folder_from_url, sidebar_sync
from rmail.web.webmail.urls import RESERVED

__all__ = ["PAGE_SIZE", "MessageRow", "folder_rows", "routes"]

routes = web.RouteTableDef()
PAGE_SIZE = 50
FLAGGED = "\\Flagged"
MAX_OFFSET = 2**31 - 1

# A folder path whose first level is not one of the app's own words (those are reached as
# /webmail/folder/{name}): registration order then never matters for other areas' routes.
_NOT_RESERVED = "(?!(?:" + "|".join(sorted(RESERVED)) + ")(?:/|$))"


@dataclass(frozen=True, slots=True)
class MessageRow:
    """What one `tr.message-row` shows."""

    folder: str
    uid: int
    flags: tuple[str, ...]
    sender: str
    sender_address: str
    subject: str
    when: dt.datetime | None
    size: int
    has_attachments: bool
    intro: str

    @property
    def unread(self) -> bool:
        return SEEN not in self.flags

    @property
    def flagged(self) -> bool:
        return FLAGGED in self.flags


def make_row(folder: Folder, rec: MessageRecord, tz: dt.tzinfo) -> MessageRow | None:
    try:
        summary: dict[str, Any] = folder.meta(rec.uid).get("summary") or {}
    except NotFound:  # expunged while we listed
        return None
    except CorruptStore:
        summary = {}
    sender = summary.get("from") or {}
    when = fmt.to_datetime(summary.get("date"), tz) or fmt.to_datetime(rec.internaldate, tz)
    return MessageRow(folder.name, rec.uid, rec.flags, fmt.person(sender),
                      sender.get("address") or "", summary.get("subject") or "", when,
                      rec.size, bool(summary.get("has_attachments")),
                      summary.get("intro") or "")


def folder_rows(folder: Folder, offset: int, limit: int, tz: dt.tzinfo) -> list[MessageRow]:
    """Newest first, `offset` skipping the newest N."""
    rows = []
    for rec in folder.records(offset, limit):
        row = make_row(folder, rec, tz)
        if row is not None:
            rows.append(row)
    return rows


@dataclass(frozen=True)
class Listing:
    sidebar: list[FolderView]
    folder: str
    mailbox_id: str  # the folder's id in the update stream (`GET /users/me/updates`)
    total: int
    unread: int
    rows: list[MessageRow]


def _listing(mailbox: UserMailbox, name: str, offset: int, tz: dt.tzinfo) -> Listing:
    side = sidebar_sync(mailbox)
    folder = mailbox.folder(name)
    status = folder.status()
    return Listing(side, folder.name, folder.mailbox_id(), status.count, status.unseen,
                   folder_rows(folder, offset, PAGE_SIZE, tz))


async def _list(page: Page, raw: str) -> web.StreamResponse:
    name = folder_from_url(raw)
    offset = page.query_int("offset", 0, 0, MAX_OFFSET)
    listing = await page.run(_listing, page.mailbox, name, offset, page.tz)
    page._sidebar = listing.sidebar
    if offset and offset >= listing.total and listing.total:
        raise page.redirect(page.url.folder(listing.folder))
    return await page.render(
        "list.html", title=f"{listing.folder} ({listing.unread:,})" if listing.unread
        else listing.folder, folder=listing.folder, mailbox_id=listing.mailbox_id,
        total=listing.total,
        unread=listing.unread, rows=listing.rows, offset=offset, limit=PAGE_SIZE,
        now=dt.datetime.now(dt.UTC), show_folder=False)


@routes.get("/webmail/folder/{folder:.+}")
@view()
async def folder_by_prefix(page: Page) -> web.StreamResponse:
    return await _list(page, page.request.match_info["folder"])


async def folder_page(request: web.Request) -> web.StreamResponse:
    return await _folder_page(request)


@view()
async def _folder_page(page: Page) -> web.StreamResponse:
    return await _list(page, page.request.match_info["folder"])


def add_catch_all(app: web.Application) -> None:
    """`/webmail/{folder}` for every first level that is not a reserved word."""
    app.router.add_get("/webmail/{folder:" + _NOT_RESERVED + ".+}", folder_page)


# -- bulk actions ----------------------------------------------------------------------------
BULK_ACTIONS = ("delete", "move", "mark-read", "mark-unread", "star", "unstar", "junk",
                "toggle-star")
MAX_BULK = 5000


def parse_selection(values: list[str]) -> dict[str, list[int]]:
    """`folder/uid` values of checked rows, grouped by folder."""
    if len(values) > MAX_BULK:
        raise HttpError(413, f"At most {MAX_BULK} messages at once")
    out: dict[str, list[int]] = {}
    for value in values:
        folder, sep, uid = value.rpartition("/")
        if not sep or not uid.isdigit() or not 0 < int(uid) < 2**32:
            raise HttpError(400, "Bad message selection")
        out.setdefault(folder_from_url(folder), []).append(int(uid))
    return out


def apply_action(mailbox: UserMailbox, quota: int, folder_name: str, uids: list[int],
                 action: str, target: str | None) -> None:
    """One action on messages of one folder, as the equivalent IMAP command would do it."""
    folder = mailbox.folder(folder_name)
    if action == "mark-read":
        folder.store_flags(uids, "add", [SEEN])
    elif action == "mark-unread":
        folder.store_flags(uids, "remove", [SEEN])
    elif action == "star":
        folder.store_flags(uids, "add", [FLAGGED])
    elif action == "unstar":
        folder.store_flags(uids, "remove", [FLAGGED])
    elif action == "toggle-star":  # the list's star button: one message at a time
        for uid in uids:
            flagged = FLAGGED in folder.record(uid).flags
            folder.store_flags([uid], "remove" if flagged else "add", [FLAGGED])
    elif action in ("delete", "junk", "move"):
        dest = _destination(mailbox, folder, action, target)
        if dest is None:  # deleting inside Trash: gone for good (STORE \Deleted + EXPUNGE)
            folder.store_flags(uids, "add", ["\\Deleted"])
            folder.expunge(uids, only_deleted=True)
        elif dest.id != folder.id:
            folder.move(uids, dest, quota_bytes=quota)
    else:
        raise HttpError(400, f"Unknown action {action!r}")


def _destination(mailbox: UserMailbox, folder: Folder, action: str,
                 target: str | None) -> Folder | None:
    if action == "move":
        if not target:
            raise HttpError(400, "Choose a folder to move to")
        return mailbox.folder(folder_from_url(target))
    use = "\\Junk" if action == "junk" else "\\Trash"
    dest = mailbox.folder_by_special_use(use)
    if dest is None:
        dest = mailbox.create_folder("Junk" if action == "junk" else "Trash", use)
    if action == "delete" and dest.id == folder.id:
        return None
    return dest


@routes.post("/webmail/bulk")
@view()
async def bulk(page: Page) -> web.StreamResponse:
    form = page.form
    action = str(form.get("action", ""))
    if action not in BULK_ACTIONS:
        raise HttpError(400, "Choose an action")
    selection = parse_selection([str(v) for v in form.getall("msg", [])])
    target = form.get("target")
    back = str(form.get("return") or "")
    if action == "delete" and form.get("confirm") != "yes" and any(
            _is_trash(page, name) for name in selection):
        return await page.render("confirm.html", title="Delete for ever?",
                                 action_url=page.url("/webmail/bulk"),
                                 fields=[("action", "delete"), ("return", back),
                                         *(("msg", f"{f}/{u}") for f, us in selection.items()
                                           for u in us)],
                                 count=sum(len(u) for u in selection.values()))
    mailbox = page.mailbox
    quota = page.user.account.quota_bytes
    for name, uids in selection.items():
        await page.run(apply_action, mailbox, quota, name, uids, action,
                       str(target) if target else None)
    raise page.redirect(back if _local(back) else "/webmail/")


def _is_trash(page: Page, name: str) -> bool:
    try:
        return page.mailbox.entry(name).special_use == "\\Trash"
    except NotFound:
        return False


def _local(path: str) -> bool:
    return path.startswith("/webmail/") and "//" not in path and "\\" not in path


__all__ += ["BULK_ACTIONS", "RESERVED", "add_catch_all", "apply_action"]
