"""`/users/{user}/mailboxes/{mailbox}/messages[/{message}]`: messages as WildDuck's API shows
them. A message is named by its IMAP UID within the mailbox.

Listing pages with opaque cursors (`nextCursor`/`previousCursor`, passed back as `next=` or
`previous=`): a cursor holds the UID a page ended at, so each page is a binary search plus
`limit` rows (`rmail.store.paging`) at any depth, and mail arriving meanwhile never makes a
page repeat or skip a message. Updates make the store calls the IMAP commands make (STORE,
MOVE, EXPUNGE), so IMAP clients watching the folder see them at once.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from rmail.mail import message_json, render
from rmail.store import rendercache
from rmail.store.errors import CorruptStore, NotFound
from rmail.store.journal import DELETED, SEEN, MessageRecord, iter_ranges
from rmail.store.mailbox import Folder
from rmail.store.paging import page_of
from rmail.web.api.base import core, get_bool, query_bool, query_int, read_json, run
from rmail.web.api.folders import stream_message
from rmail.web.api.mailboxes import MAILBOX, mailbox_id, open_mailbox
from rmail.web.api.users import resolve_user, success
from rmail.web.errors import ApiError
from rmail.web.files import content_disposition

__all__ = ["list_item", "routes", "summary_of"]

routes = web.RouteTableDef()
BASE = "/users/{user}/mailboxes/" + MAILBOX + "/messages"
MESSAGE = BASE + r"/{message:[0-9]{1,10}}"
DEFAULT_LIMIT, MAX_LIMIT = 20, 250
MAX_UID = 2**32 - 1
MAX_BULK = 10_000
FLAGGED, DRAFT, ANSWERED = "\\Flagged", "\\Draft", "\\Answered"
FLAG_FIELDS = {"seen": SEEN, "flagged": FLAGGED, "draft": DRAFT, "deleted": DELETED,
               "answered": ANSWERED}
_RANGE = re.compile(r"([0-9]{1,10}|\*)(?::([0-9]{1,10}|\*))?")


# -- shapes --------------------------------------------------------------------------------
def iso(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


def summary_of(folder: Folder, uid: int) -> dict[str, Any] | None:
    """The stored summary, None once the message has gone (expunged while listing)."""
    try:
        return folder.meta(uid).get("summary") or {}
    except NotFound:
        return None
    except CorruptStore:
        return {}


def scope(folder: Folder) -> str:
    return f"{folder.owner.domain}\0{folder.owner.username}"


def list_item(folder: Folder, mid: str, rec: MessageRecord,
              summary: dict[str, Any]) -> dict[str, Any]:
    """One message of a listing (schema `MailMessageItem`)."""
    flags = rec.flags
    return {
        "id": rec.uid,
        "mailbox": mid,
        "thread": message_json.thread_id(scope(folder), summary, f"{mid}/{rec.uid}"),
        "from": summary.get("from"),
        "to": summary.get("to") or [],
        "cc": summary.get("cc") or [],
        "subject": summary.get("subject") or "",
        "date": summary.get("date") or iso(rec.internaldate),
        "idate": iso(rec.internaldate),
        "intro": summary.get("intro") or "",
        "attachments": bool(summary.get("has_attachments")),
        "size": rec.size,
        "seen": SEEN in flags,
        "deleted": DELETED in flags,
        "flagged": FLAGGED in flags,
        "draft": DRAFT in flags,
        "answered": ANSWERED in flags,
    }


# -- cursors -------------------------------------------------------------------------------
def encode_cursor(uid: int, page: int, uidvalidity: int, order: str) -> str:
    data = orjson.dumps([1, uid, page, uidvalidity, order])
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(raw: str, uidvalidity: int, order: str) -> tuple[int, int]:
    """(anchor UID, page) of a cursor this mailbox handed out for this order."""
    try:
        if len(raw) > 200:
            raise ValueError
        data = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        version, uid, page, validity, cursor_order = data
        if version != 1 or not all(isinstance(v, int) and not isinstance(v, bool)
                                   for v in (uid, page, validity)):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise ApiError(400, "Invalid cursor") from None
    if validity != uidvalidity or cursor_order != order:
        raise ApiError(400, "Cursor does not belong to this listing")
    return max(0, min(uid, MAX_UID)), max(1, min(page, 2**31))


def _order(request: web.Request) -> str:
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(400, "Parameter order must be asc or desc")
    return order


@routes.get(BASE)
async def list_messages(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    order = _order(request)
    limit = query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    nxt, prev = request.query.get("next"), request.query.get("previous")
    if nxt and prev:
        raise ApiError(400, "Give either next or previous, not both")
    _, folder = await open_mailbox(request, target)
    mid = mailbox_id(folder)

    def build() -> dict[str, Any]:
        uidvalidity = folder.uidvalidity
        anchor, page, backwards = None, 1, False
        if nxt:
            anchor, page = decode_cursor(nxt, uidvalidity, order)
        elif prev:
            anchor, page = decode_cursor(prev, uidvalidity, order)
            backwards = True
        got = page_of(folder, anchor, limit, newest_first=order == "desc", backwards=backwards)
        results = []
        for rec in got.records:
            summary = summary_of(folder, rec.uid)
            if summary is not None:
                results.append(list_item(folder, mid, rec, summary))
        base = request.path
        common = {"order": order, "limit": limit}
        out: dict[str, Any] = {"total": got.total, "page": page,
                               "previousCursor": False, "nextCursor": False,
                               "previous": False, "next": False, "results": results}
        if got.records and got.more_before and page > 1:
            cursor = encode_cursor(got.records[0].uid, page - 1, uidvalidity, order)
            out["previousCursor"] = cursor
            out["previous"] = base + "?" + urlencode({**common, "previous": cursor})
        if got.records and got.more_after:
            cursor = encode_cursor(got.records[-1].uid, page + 1, uidvalidity, order)
            out["nextCursor"] = cursor
            out["next"] = base + "?" + urlencode({**common, "next": cursor})
        return out

    return success(await run(request, build))


# -- one message ---------------------------------------------------------------------------
def _uid(request: web.Request) -> int:
    uid = int(request.match_info["message"])
    if not 1 <= uid <= MAX_UID:
        raise ApiError(404, f"No message {uid}")
    return uid


def message_detail(folder: Folder, mid: str, uid: int, mark_seen: bool,
                   attachment_base: str) -> dict[str, Any]:
    """The parsed message. Its body, text, headers and attachments come from the saved
    rendering (`rmail.store.rendercache`, remote content kept: an API client decides itself
    what to load), so only the first reader of a large message pays for the sanitiser."""
    body = rendercache.rendered(folder, uid, allow_remote=True)
    rec = folder.record(uid)
    meta = folder.meta(uid)
    if mark_seen and SEEN not in rec.flags:
        folder.store_flags([uid], "add", [SEEN])
        rec = folder.record(uid)
    summary = meta.get("summary") or {}
    item = list_item(folder, mid, rec, summary)
    del item["attachments"]
    envelope = meta.get("envelope") or {}
    return {
        **item,
        "emailId": folder.email_ids([uid])[0],
        "flags": list(rec.flags),
        "bcc": _addresses(envelope.get("bcc")),
        "replyTo": summary.get("reply_to") or [],
        "messageId": summary.get("message_id"),
        "inReplyTo": summary.get("in_reply_to"),
        "references": summary.get("references") or [],
        "headers": list(body.headers),
        "html": body.html(lambda i: attachment_base + message_json.attachment_id(i)),
        "text": body.text,
        "attachments": list(body.attachments),
    }


def _addresses(value: Any) -> list[dict[str, str]]:
    from rmail.mail.addresses import summary_addresses  # pure; the envelope's own form
    return summary_addresses(value) if value else []


@routes.get(MESSAGE)
async def get_message(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    uid = _uid(request)
    mark = query_bool(request, "markAsSeen")
    _, folder = await open_mailbox(request, target)
    mid = mailbox_id(folder)
    base = f"{request.path}/attachments/"
    return success(await run(request, message_detail, folder, mid, uid, mark, base))


@routes.get(MESSAGE + "/message.eml")
async def get_raw(request: web.Request) -> web.StreamResponse:
    """The message exactly as stored, streamed."""
    target = await resolve_user(request)
    uid = _uid(request)
    _, folder = await open_mailbox(request, target)
    return await stream_message(request, folder, uid, {
        "Content-Type": "message/rfc822",
        "Content-Disposition": content_disposition("attachment", f"{uid}.eml")})


@routes.get(MESSAGE + r"/attachments/{attachment:ATT[0-9]{1,6}}")
async def get_attachment(request: web.Request) -> web.Response:
    """An attachment's decoded bytes, always as a download (never rendered as our page)."""
    target = await resolve_user(request)
    uid = _uid(request)
    index = message_json.attachment_index(request.match_info["attachment"])
    if index is None:
        raise ApiError(404, "No such attachment")
    _, folder = await open_mailbox(request, target)

    def load() -> tuple[bytes, dict[str, Any]]:
        folder.record(uid)
        meta = folder.meta(uid)
        found = (meta.get("summary") or {}).get("attachments") or []
        if index >= len(found):
            raise NotFound("no such attachment")
        raw = folder.read_message(uid)
        return render.part_bytes(raw, render.find_part(meta, found[index]["part"])), \
            found[index]

    data, attachment = await run(request, load)
    ctype = (attachment.get("content_type") or "application/octet-stream").lower()
    if not re.fullmatch(r"[a-z0-9!#$&^_.+-]{1,64}/[a-z0-9!#$&^_.+-]{1,64}", ctype):
        ctype = "application/octet-stream"
    filename = attachment.get("filename") or f"attachment-{index + 1}"
    return web.Response(body=data, headers={
        "Content-Type": ctype,
        "Content-Disposition": content_disposition("attachment", filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


# -- updates -------------------------------------------------------------------------------
UPDATE_FIELDS = ("moveTo", *FLAG_FIELDS)


def _flag_changes(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(mode, flag) pairs from the boolean fields."""
    changes = []
    for name, flag in FLAG_FIELDS.items():
        value = get_bool(body, name)
        if value is not None:
            changes.append(("add" if value else "remove", flag))
    return changes


def _move_target(body: dict[str, Any]) -> str | None:
    value = body.get("moveTo")
    if value is None and "moveTo" not in body:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "Field moveTo must be a mailbox id")
    return value


def apply_update(folder: Folder, uids: list[int], changes: list[tuple[str, str]],
                 dest: Folder | None, quota: int | None) -> tuple[int, list[list[int]]]:
    """Flag changes, then a move of the messages `uids` (present a moment ago): (messages
    updated, [[old UID, new UID]...])."""
    live = uids
    for mode, flag in changes:
        folder.store_flags(live, mode, [flag])
    pairs: list[list[int]] = []
    if dest is not None and live:
        pairs = [[a, b] for a, b in folder.move(live, dest, quota_bytes=quota)]
    return len(live), pairs


def _expires(body: dict[str, Any]) -> float | bool | None:
    """`expires`: an ISO 8601 date or time (UTC unless it says otherwise) -> Unix seconds,
    `false` -> None (no expiry of its own); absent -> False (unchanged)."""
    if "expires" not in body:
        return False
    value = body["expires"]
    if value is False:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ApiError(400, "Field expires must be an ISO 8601 date or false")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "Field expires must be an ISO 8601 date or false") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


@routes.put(MESSAGE)
async def update_message(request: web.Request) -> web.Response:
    """Flags, a move (`moveTo`) and the message's own expiry (`expires`, kept by
    `rmail.store.retention` and honoured by the retention sweeper)."""
    target = await resolve_user(request)
    uid = _uid(request)
    body = await read_json(request, allowed=(*UPDATE_FIELDS, "expires"))
    changes = _flag_changes(body)
    move_to = _move_target(body)
    expires = _expires(body)
    _, folder = await open_mailbox(request, target)
    dest = (await open_mailbox(request, target, move_to))[1] if move_to else None
    await run(request, folder.record, uid)  # 404 for a message that is not there
    count, pairs = await run(request, apply_update, folder, [uid], changes, dest,
                             target.account.quota_bytes)
    if not count:
        raise ApiError(404, f"No message {uid}")
    out: dict[str, Any] = {"id": uid, "mailbox": mailbox_id(folder)}
    final, final_uid = folder, uid
    if dest is not None and pairs:
        out = {"id": pairs[0][1], "mailbox": mailbox_id(dest)}
        final, final_uid = dest, pairs[0][1]
    if expires is not False:
        await run(request, core(request).retention.set_expires, target.domain, target.username,
                  final,
                  final_uid, expires)
    return success(out)


def parse_message_set(value: Any, uidnext: int) -> list[int]:
    """A list of UIDs, or a UID range `a:b` / `a:*` / comma-separated of them."""
    if isinstance(value, list):
        if len(value) > MAX_BULK or not all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_UID
                for v in value):
            raise ApiError(400, f"Field message must hold 1 to {MAX_BULK} UIDs")
        return sorted(set(value))
    if not isinstance(value, str) or not value or len(value) > 1000:
        raise ApiError(400, "Field message must be a list of UIDs or a UID range")
    ranges = []
    top = max(uidnext - 1, 1)
    for piece in value.split(","):
        m = _RANGE.fullmatch(piece.strip())
        if not m:
            raise ApiError(400, "Field message must be a list of UIDs or a UID range")
        lo = top if m.group(1) == "*" else int(m.group(1))
        hi = lo if m.group(2) is None else (top if m.group(2) == "*" else int(m.group(2)))
        lo, hi = sorted((lo, hi))
        if lo < 1 or hi > MAX_UID:
            raise ApiError(400, "UIDs run from 1 to 4294967295")
        ranges.append([lo, min(hi, top)])
    return sorted({u for u in iter_ranges(r for r in ranges if r[0] <= r[1])})


@routes.put(BASE)
async def update_messages(request: web.Request) -> web.Response:
    """Bulk update: `message` (UIDs or a range) with the fields of a single update, `expires`
    included (one write of the retention document for all of them)."""
    target = await resolve_user(request)
    body = await read_json(request, allowed=("message", *UPDATE_FIELDS, "expires"))
    if "message" not in body:
        raise ApiError(400, "Missing field: message")
    changes = _flag_changes(body)
    move_to = _move_target(body)
    expires = _expires(body)
    retention = core(request).retention
    _, folder = await open_mailbox(request, target)
    dest = (await open_mailbox(request, target, move_to))[1] if move_to else None

    def bulk() -> tuple[int, list[list[int]]]:
        status = folder.status()
        uids = parse_message_set(body["message"], status.uidnext)
        wanted = set(uids)
        live = folder.read_index(lambda idx: [u for u in wanted if idx.position(u) is not None])
        count, pairs = apply_update(folder, sorted(live), changes, dest,
                                    target.account.quota_bytes)
        if expires is not False:
            final, final_uids = (dest, [new for _, new in pairs]) if dest is not None else \
                (folder, sorted(live))
            retention.set_expires_many(target.domain, target.username, final, final_uids,
                                       expires)
        return count, pairs

    count, pairs = await run(request, bulk)
    out: dict[str, Any] = {"updated": count, "mailbox": mailbox_id(dest or folder)}
    if dest is not None:
        out["id"] = pairs
    return success(out)


@routes.delete(MESSAGE)
async def delete_message(request: web.Request) -> web.Response:
    """Remove the message for good (as IMAP `UID EXPUNGE`); moving to Trash is a `moveTo`."""
    target = await resolve_user(request)
    uid = _uid(request)
    _, folder = await open_mailbox(request, target)

    def delete() -> None:
        folder.record(uid)
        if not folder.expunge([uid]):
            raise NotFound(f"no message {uid}")

    await run(request, delete)
    return success()

