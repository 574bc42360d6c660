"""`/users/{user}/mailboxes[/{mailbox}]`: a user's folders as WildDuck's API shows them.

A mailbox is named by its MAILBOXID (RFC 8474, `Folder.mailbox_id`): it survives renames and a
folder deleted and made again gets a new one. Placeholder parents (\\Noselect, left when a
folder with children is deleted) hold no mail and have no id, so they are not listed.
Rules: INBOX cannot be renamed or deleted; special-use folders (Sent, Trash...) cannot be
deleted here (IMAP still can, as RFC 6154 allows); a new path's missing parents are made.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from rmail.store.errors import NotFound
from rmail.store.folders import INBOX, SEPARATOR, FolderEntry
from rmail.store.mailbox import Folder, UserMailbox
from rmail.store.retention import check_retention
from rmail.web.api.base import core, folder_name, get_bool, get_str, read_json, run
from rmail.web.api.users import UserTarget, resolve_reader, resolve_user, success
from rmail.web.errors import ApiError

__all__ = ["MAILBOX", "mailbox_item", "open_mailbox", "routes", "user_mailbox"]

routes = web.RouteTableDef()
MAILBOX = r"{mailbox:F[0-9a-f]{24}}"
_MAILBOX_ID = re.compile(r"F[0-9a-f]{24}")
BASE = "/users/{user}/mailboxes"

def mailbox_id(folder: Folder) -> str:
    return folder.mailbox_id()  # a stat and a hash once the folder's index is loaded


def user_mailbox(request: web.Request, target: UserTarget) -> UserMailbox:
    return core(request).mail.mailbox(target.domain, target.username)


def selectable(mailbox: UserMailbox) -> list[tuple[FolderEntry, Folder]]:
    out = []
    for entry in mailbox.entries():
        if entry.folder_id is None:
            continue
        try:
            out.append((entry, mailbox.folder(entry.name)))
        except NotFound:  # deleted meanwhile
            continue
    return out


def find_folder(mailbox: UserMailbox, mid: str) -> tuple[FolderEntry, Folder]:
    """The folder with MAILBOXID `mid` (a walk over the user's few folders)."""
    if not _MAILBOX_ID.fullmatch(mid):
        raise ApiError(404, "No such mailbox")
    for entry, folder in selectable(mailbox):
        if mailbox_id(folder) == mid:
            return entry, folder
    raise ApiError(404, "No such mailbox")


async def open_mailbox(request: web.Request, target: UserTarget,
                       mid: str | None = None) -> tuple[FolderEntry, Folder]:
    mailbox = user_mailbox(request, target)
    return await run(request, find_folder, mailbox, mid or request.match_info["mailbox"])


def mailbox_item(entry: FolderEntry, folder: Folder, counters: bool) -> dict[str, Any]:
    status = folder.status()
    item: dict[str, Any] = {
        "id": mailbox_id(folder),
        "name": entry.name.rsplit(SEPARATOR, 1)[-1],
        "path": entry.name,
        "specialUse": entry.special_use,
        "modifyIndex": status.highestmodseq,
        "subscribed": entry.subscribed,
    }
    if counters:
        item.update(total=status.count, unseen=status.unseen, size=status.bytes)
    return item


def _counters(request: web.Request) -> bool:
    raw = request.query.get("counters", "false").lower()
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ApiError(400, "Parameter counters must be true or false")
    return raw in ("true", "1", "yes")


@routes.get(BASE)
async def list_mailboxes(request: web.Request) -> web.Response:
    # the webmail's pages read their folder counts here (session cookie, own account only)
    target = await resolve_reader(request)
    counters = _counters(request)
    mailbox = user_mailbox(request, target)

    def listing() -> list[dict[str, Any]]:
        out = []
        for entry, folder in selectable(mailbox):
            try:
                out.append(mailbox_item(entry, folder, counters))
            except NotFound:
                continue
        return out

    return success({"results": await run(request, listing)})


@routes.post(BASE)
async def create_mailbox(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    body = await read_json(request, allowed=("path", "subscribed"))
    path = folder_name(get_str(body, "path", required=True, max_length=1000) or "")
    subscribed = get_bool(body, "subscribed", default=True)
    mailbox = user_mailbox(request, target)

    def create() -> str:
        folder = mailbox.create_folder(path)
        if subscribed:
            mailbox.set_subscribed(folder.name, True)
        return mailbox_id(folder)

    return success({"id": await run(request, create)})


@routes.get(BASE + "/" + MAILBOX)
async def get_mailbox(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    entry, folder = await open_mailbox(request, target)
    return success(await run(request, mailbox_item, entry, folder, True))


@routes.put(BASE + "/" + MAILBOX)
async def update_mailbox(request: web.Request) -> web.Response:
    """Rename (`path`), (un)subscribe (`subscribed`), set `retention` (ms, for messages
    arriving from now on; 0: the user's default; `rmail.store.retention`)."""
    target = await resolve_user(request)
    body = await read_json(request, allowed=("path", "subscribed", "retention"))
    retention = check_retention(body["retention"]) if "retention" in body else None
    raw_path = get_str(body, "path", max_length=1000)
    new = folder_name(raw_path) if raw_path is not None else None
    subscribed = get_bool(body, "subscribed")
    entry, folder = await open_mailbox(request, target)
    mailbox = folder.owner

    def update() -> None:
        name = entry.name
        if new is not None and new != name:
            if name == INBOX:
                raise ApiError(409, "INBOX cannot be renamed")
            mailbox.rename_folder(name, new)
            name = new
        if subscribed is not None:
            mailbox.set_subscribed(name, subscribed)
        if retention is not None:
            core(request).retention.set_mailbox_retention(target.domain, target.username,
                                                          folder, retention)

    await run(request, update)
    return success()


@routes.delete(BASE + "/" + MAILBOX)
async def delete_mailbox(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    entry, folder = await open_mailbox(request, target)
    if entry.name == INBOX:
        raise ApiError(409, "INBOX cannot be deleted")
    if entry.special_use is not None:
        raise ApiError(409, f"{entry.special_use} folders cannot be deleted")
    await run(request, folder.owner.delete_folder, entry.name)
    return success()
