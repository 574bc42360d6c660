"""Folders and messages: list, create/rename/delete folders; list, append (raw RFC 5322),
fetch, delete and re-flag messages (reference manual, "Endpoint Reference").

Folder names come percent-decoded from the URL (`/folders/Work%2FClients/messages` and
`/folders/Work/Clients/messages` are the same folder) and pass `base.folder_name`. Routes with
a `{uid}` are registered first so `{folder:.+}` cannot swallow them; renaming and deleting a
folder name it in the query (`?name=`), so no path is ambiguous.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import weakref
from typing import IO, Any

from aiohttp import web

from rmail.auth import Principal
from rmail.store.errors import CorruptStore, NotFound
from rmail.store.folders import FolderEntry
from rmail.store.journal import SEEN, SYSTEM_FLAGS, MessageRecord
from rmail.store.mailbox import Folder, UserMailbox
from rmail.web.api.base import (
    core,
    folder_name,
    get_str,
    get_str_list,
    json_response,
    query_int,
    read_body,
    read_json,
    require_user,
    run,
)
from rmail.web.errors import ApiError

routes = web.RouteTableDef()

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_UID = 2**32 - 1  # RFC 9051 §2.3.1.1: UIDs are 32-bit
MAX_FLAGS = 100
_KEYWORD = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]{1,100}")  # RFC 9051 atom
_CHUNK = 256 * 1024
UID = r"{uid:[0-9]{1,20}}"


# -- helpers ---------------------------------------------------------------------------------
def check_flags(flags: list[str]) -> list[str]:
    """IMAP system flags (except \\Recent, which no client may set) and keywords."""
    if len(flags) > MAX_FLAGS:
        raise ApiError(400, f"At most {MAX_FLAGS} flags")
    system = {f.lower(): f for f in SYSTEM_FLAGS}
    out = []
    for flag in flags:
        if flag.startswith("\\"):
            canon = system.get(flag.lower())
            if canon is None:
                raise ApiError(400, f"Unknown system flag {flag}")
            out.append(canon)
        elif _KEYWORD.fullmatch(flag):
            out.append(flag)
        else:
            raise ApiError(400, f"Invalid flag {flag!r}")
    return out


def parse_uid(request: web.Request) -> int:
    uid = int(request.match_info["uid"])
    if not 1 <= uid <= MAX_UID:
        raise ApiError(404, f"No message with UID {uid}")
    return uid


def iso(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


async def user_mailbox(request: web.Request, principal: Principal) -> UserMailbox:
    # A dict lookup once the mailbox is cached (one stat the first time): no thread hop.
    return core(request).mail.mailbox(principal.domain, principal.username)


async def open_folder(request: web.Request, principal: Principal) -> Folder:
    name = folder_name(request.match_info["folder"])
    mailbox = await user_mailbox(request, principal)
    return await run(request, mailbox.folder, name)


def message_item(rec: MessageRecord, summary: dict[str, Any]) -> dict[str, Any]:
    """One entry of a message listing (schema `MessageSummary` in the OpenAPI document)."""
    flags = list(rec.flags)
    return {
        "uid": rec.uid,
        "flags": flags,
        "seen": SEEN in flags,
        "size": rec.size,
        "modseq": rec.modseq,
        "internaldate": iso(rec.internaldate),
        "date": summary.get("date"),
        "from": summary.get("from"),
        "to": summary.get("to") or [],
        "cc": summary.get("cc") or [],
        "subject": summary.get("subject") or "",
        "intro": summary.get("intro") or "",
        "has_attachments": bool(summary.get("has_attachments")),
        "message_id": summary.get("message_id"),
        "in_reply_to": summary.get("in_reply_to"),
    }


def folder_item(mailbox: UserMailbox, name: str | FolderEntry,
                folder: Folder | None = None) -> dict[str, Any]:
    entry = mailbox.entry(name) if isinstance(name, str) else name
    item: dict[str, Any] = {"name": entry.name, "total": 0, "unread": 0, "size": 0,
                            "special_use": entry.special_use, "subscribed": entry.subscribed,
                            "selectable": entry.selectable}
    if entry.selectable:
        status = (folder or mailbox.folder(entry.name)).status()
        item.update(total=status.count, unread=status.unseen, size=status.bytes)
    return item


# -- folders ---------------------------------------------------------------------------------
# Folders whose index this process has loaded: their status is a few stats and arithmetic, so
# listing them runs on the loop (a worker thread costs more in GIL hand-offs than the work).
# A folder not seen yet is listed in a thread, since loading a big index takes a while.
_WARM: weakref.WeakSet[Folder] = weakref.WeakSet()
# mailbox -> (its folder list, the Folder objects of that list): reused while the list is equal
_FOLDERS: weakref.WeakKeyDictionary[UserMailbox, tuple[tuple[FolderEntry, ...],
                                                       dict[str, Folder]]] = (
    weakref.WeakKeyDictionary())


@routes.get("/folders")
async def list_folders(request: web.Request) -> web.Response:
    principal = await require_user(request)
    mailbox = await user_mailbox(request, principal)
    entries = tuple(mailbox.entries())  # folders.json: parsed once, then one stat per call
    cached = _FOLDERS.get(mailbox)
    if cached is not None and cached[0] == entries:
        folders = cached[1]
    else:
        folders = {}
        for entry in entries:
            if entry.selectable:
                with contextlib.suppress(NotFound):  # deleted meanwhile
                    folders[entry.name] = mailbox.folder(entry.name)
        _FOLDERS[mailbox] = (entries, folders)

    def listing() -> list[dict[str, Any]]:
        out = []
        for entry in entries:
            try:
                out.append(folder_item(mailbox, entry, folders.get(entry.name)))
            except NotFound:  # deleted while we listed
                continue
        return out

    if all(f in _WARM for f in folders.values()):
        items = listing()
    else:
        items = await run(request, listing)
        _WARM.update(folders.values())
    return json_response({"folders": items})


@routes.post("/folders")
async def create_folder(request: web.Request) -> web.Response:
    principal = await require_user(request)
    body = await read_json(request, allowed=("name", "special_use"))
    name = folder_name(get_str(body, "name", required=True, max_length=1000) or "")
    use = get_str(body, "special_use", max_length=20)
    mailbox = await user_mailbox(request, principal)
    folder = await run(request, mailbox.create_folder, name, use)
    return json_response(await run(request, folder_item, mailbox, folder.name), status=201)


# -- messages: the routes with a UID first ----------------------------------------------------
@routes.get("/folders/{folder:.+}/messages/" + UID)
async def fetch_message(request: web.Request) -> web.StreamResponse:
    """The raw message exactly as stored, streamed in chunks."""
    principal = await require_user(request)
    uid = parse_uid(request)
    folder = await open_folder(request, principal)
    return await stream_message(request, folder, uid, {"Content-Type": "message/rfc822"})


async def stream_message(request: web.Request, folder: Folder, uid: int,
                         headers: dict[str, str]) -> web.StreamResponse:
    """The raw message exactly as stored, streamed in chunks (also `/users/.../message.eml`)."""

    def opened() -> tuple[IO[bytes], int]:
        handle = folder.open_message(uid)
        return handle, os.fstat(handle.fileno()).st_size

    handle, size = await run(request, opened)
    try:
        response = web.StreamResponse(headers=headers)
        response.content_length = size
        await response.prepare(request)
        # HEAD: headers only (a streamed body would be sent as is and break keep-alive)
        while request.method != "HEAD" and (chunk := await run(request, handle.read, _CHUNK)):
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        handle.close()


@routes.delete("/folders/{folder:.+}/messages/" + UID)
async def delete_message(request: web.Request) -> web.Response:
    principal = await require_user(request)
    uid = parse_uid(request)
    folder = await open_folder(request, principal)

    def delete() -> None:
        folder.record(uid)  # NotFound -> 404
        if not folder.expunge([uid]):
            raise NotFound(f"no message with UID {uid} in {folder.name!r}")

    await run(request, delete)
    return json_response({"folder": folder.name, "uid": uid, "deleted": True})


@routes.patch("/folders/{folder:.+}/messages/" + UID + "/flags")
async def replace_flags(request: web.Request) -> web.Response:
    principal = await require_user(request)
    uid = parse_uid(request)
    body = await read_json(request, allowed=("flags",))
    if not isinstance(body.get("flags"), list):
        raise ApiError(400, "Field flags must be a list of strings")
    flags = check_flags(get_str_list(body, "flags", required=True, max_items=MAX_FLAGS))
    folder = await open_folder(request, principal)

    def replace() -> MessageRecord:
        folder.record(uid)
        folder.store_flags([uid], "set", flags)
        return folder.record(uid)

    rec = await run(request, replace)
    return json_response({"folder": folder.name, "uid": uid, "flags": list(rec.flags),
                          "modseq": rec.modseq})


@routes.get("/folders/{folder:.+}/messages")
async def list_messages(request: web.Request) -> web.Response:
    """Newest first; `offset` skips the newest N. O(limit) whatever the folder size."""
    principal = await require_user(request)
    offset = query_int(request, "offset", 0, 0, 2**31 - 1)
    limit = query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    folder = await open_folder(request, principal)

    def page() -> dict[str, Any]:
        status = folder.status()
        items = []
        for rec in folder.records(offset, limit):
            try:
                summary = folder.meta(rec.uid).get("summary") or {}
            except NotFound:  # expunged while we listed
                continue
            except CorruptStore:
                summary = {}
            items.append(message_item(rec, summary))
        return {"folder": folder.name, "total": status.count, "unread": status.unseen,
                "offset": offset, "limit": limit, "messages": items}

    return json_response(await run(request, page))


@routes.post("/folders/{folder:.+}/messages")
async def append_message(request: web.Request) -> web.Response:
    """Body: the raw message (`Content-Type: message/rfc822`); optional `flags` query
    parameters (repeated or space-separated). 413 over `max_message_bytes` or the quota."""
    principal = await require_user(request)
    if request.content_type != "message/rfc822":
        raise ApiError(415, "Content-Type must be message/rfc822")
    flags = check_flags([f for value in request.query.getall("flags", [])
                         for f in value.split()])
    folder = await open_folder(request, principal)
    raw = await read_body(request, core(request).config.max_message_bytes)
    if not raw.strip():
        raise ApiError(400, "Message body is empty")
    result = await run(request, folder.append, raw, flags,
                       quota_bytes=principal.account.quota_bytes)
    return json_response({"folder": folder.name, "uid": result.uid, "size": len(raw)},
                         status=201)


# -- folder rename/delete: on /folders with ?name=, so no folder path shadows a message route --
def _named(request: web.Request) -> str:
    raw = request.query.get("name")
    if not raw:
        raise ApiError(400, "Parameter name is required")
    return folder_name(raw)


@routes.patch("/folders")
async def rename_folder(request: web.Request) -> web.Response:
    """`PATCH /folders?name=Old` with `{"name": "New"}`; children move along."""
    principal = await require_user(request)
    old = _named(request)
    body = await read_json(request, allowed=("name",))
    new = folder_name(get_str(body, "name", required=True, max_length=1000) or "")
    mailbox = await user_mailbox(request, principal)
    await run(request, mailbox.rename_folder, old, new)
    return json_response(await run(request, folder_item, mailbox, new))


@routes.delete("/folders")
async def delete_folder(request: web.Request) -> web.Response:
    """`DELETE /folders?name=Work` deletes the folder and its messages."""
    principal = await require_user(request)
    name = _named(request)
    mailbox = await user_mailbox(request, principal)
    await run(request, mailbox.delete_folder, name)
    return json_response({"name": name, "deleted": True})
