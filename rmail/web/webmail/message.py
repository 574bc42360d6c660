"""One message: `GET /webmail/message/{folder}/{uid}` (the detail page), its sanitised HTML body
(`.../body`, the sandboxed frame's document), attachments (`.../part/{index}`), an attached
message (`.../part/{index}/view`), the raw source (`.../source`), and the detail actions
(`POST .../{action}`).

Opening a message marks it `\\Seen` (as IMAP `FETCH BODY[]` does); every action makes the
store call its IMAP command makes (STORE, MOVE, STORE \\Deleted + UID EXPUNGE), so an IMAP
client watching the folder sees it at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

from rmail.mail import render
from rmail.mail.parse import parse_message
from rmail.store import rendercache
from rmail.store.errors import NotFound
from rmail.store.journal import SEEN
from rmail.store.mailbox import UserMailbox
from rmail.web.errors import HttpError
from rmail.web.files import content_disposition
from rmail.web.webmail import format as fmt
from rmail.web.webmail.context import Page, view
from rmail.web.webmail.folders import folder_from_url, sidebar_sync
from rmail.web.webmail.headers import security_headers
from rmail.web.webmail.invitation import Invitation, find_invitation
from rmail.web.webmail.mailbox import FLAGGED, apply_action

__all__ = ["routes"]

routes = web.RouteTableDef()
BASE = "/webmail/message/{folder:.+}/{uid:[0-9]{1,10}}"
ACTIONS = ("delete", "move", "toggle-read", "toggle-star", "junk", "mark-unread")
# Raster images may be shown inline (cid: images); anything else is a download.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}


@dataclass
class Attachment:
    index: int
    filename: str
    content_type: str
    size: int
    is_message: bool


@dataclass
class Loaded:
    folder: str
    uid: int
    flags: tuple[str, ...]
    summary: dict[str, Any]
    body: render.Body
    attachments: list[Attachment]
    invitation: Invitation | None
    sidebar: list[Any] = field(default_factory=list)
    rsvp_calendar: str = "default"
    part_prefix: str = "part/"      # attachment links: part/{i}, or part/{i}/part/{j} inside
    is_draft: bool = False          # in the Drafts folder: offer to edit it

    @property
    def seen(self) -> bool:
        return SEEN in self.flags

    @property
    def flagged(self) -> bool:
        return FLAGGED in self.flags


def _target(page: Page) -> tuple[str, int]:
    info = page.request.match_info
    uid = int(info["uid"])
    if not 0 < uid < 2**32:
        raise HttpError(404, "No such message")
    return folder_from_url(info["folder"]), uid


def attachments_of(summary: dict[str, Any]) -> list[Attachment]:
    """Files to list: everything but images the HTML shows by Content-ID."""
    out = []
    for i, a in enumerate(summary.get("attachments") or []):
        if a.get("inline") and a.get("content_id") and a.get("content_type", "").startswith(
                "image/"):
            continue
        ctype = a.get("content_type") or "application/octet-stream"
        name = a.get("filename") or ("message.eml" if ctype in ("message/rfc822",
                                                               "message/global")
                                     else f"part-{a.get('part') or i}")
        out.append(Attachment(i, name, ctype, int(a.get("size") or 0),
                              ctype in ("message/rfc822", "message/global")))
    return out


def build_body(raw: bytes, meta: dict[str, Any], page_url: Any, folder: str, uid: int,
               remote: bool, frame_path: str) -> render.Body:
    """The text parts escaped and linked, or a frame for HTML."""
    parts = render.choose_body(meta["body"])
    if any(p.get("subtype") == "html" for p in parts):
        # what the frame will hold back, to offer "show remote images" (a scan, not a parse:
        # the frame's own request sanitises)
        blocked = int(any(render.has_remote(render.part_text(raw, p)) for p in parts
                          if p.get("subtype") == "html"))
        return render.Body("html", page_url(frame_path, remote=1 if remote else None),
                           blocked)
    texts = [render.linkify(render.part_text(raw, p)) for p in parts]
    return render.Body("text", "\n\n".join(texts))


def load(page: Page, mailbox: UserMailbox, name: str, uid: int, remote: bool,
         tz: dt.tzinfo) -> Loaded:
    folder = mailbox.folder(name)
    rec = folder.record(uid)
    meta = folder.meta(uid)
    raw = folder.read_message(uid)
    if SEEN not in rec.flags:
        folder.store_flags([uid], "add", [SEEN])
        rec = folder.record(uid)
    summary = dict(meta.get("summary") or {})
    summary["when"] = fmt.to_datetime(summary.get("date"), tz) or fmt.to_datetime(
        rec.internaldate, tz)
    frame = f"/webmail/message/{_q(folder.name)}/{uid}/body"
    body = build_body(raw, meta, page.url, folder.name, uid, remote, frame)
    invitation = find_invitation(raw, meta["body"], tz)
    loaded = Loaded(folder.name, uid, rec.flags, summary, body, attachments_of(summary),
                    invitation, sidebar_sync(mailbox))
    drafts = mailbox.folder_by_special_use("\\Drafts")
    loaded.is_draft = drafts is not None and drafts.id == folder.id
    if invitation is not None and invitation.uid:
        home = page.services.calendars.home(page.user.domain, page.user.username)
        found = home.find_uid(invitation.uid)
        if found is not None:
            loaded.rsvp_calendar = found[0]
    return loaded


def _q(folder: str) -> str:
    return "/".join(quote(s, safe="") for s in folder.split("/"))


@routes.get(BASE + "/part/{index:[0-9]{1,5}}/view")
@view()
async def attached_message(page: Page) -> web.StreamResponse:
    """An attached message/rfc822, shown like a message (its body and attachment names)."""
    name, uid = _target(page)
    index = int(page.request.match_info["index"])
    raw, part, attachment = await page.run(_part, page.mailbox, name, uid, index)
    if not attachment.get("content_type", "").startswith("message/"):
        raise HttpError(404, "Not an attached message")
    inner = render.part_bytes(raw, part)
    meta = await page.run(parse_message, inner)
    summary = dict(meta.get("summary") or {})
    summary["when"] = fmt.to_datetime(summary.get("date"), page.tz)
    text = render.readable_text(inner, meta["body"], prefer="plain")
    body = render.Body("text", render.linkify(text))
    loaded = Loaded(name, uid, (), summary, body, attachments_of(summary), None,
                    part_prefix=f"part/{index}/part/")
    return await page.render("message.html", title=summary.get("subject") or "(no subject)",
                             folder=name, m=loaded, nested=True, remote=False,
                             move_targets=[])


def _part(mailbox: UserMailbox, name: str, uid: int, index: int
          ) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    folder = mailbox.folder(name)
    meta = folder.meta(uid)
    attachments = (meta.get("summary") or {}).get("attachments") or []
    if index >= len(attachments):
        raise NotFound("no such attachment")
    attachment = attachments[index]
    part = render.find_part(meta, attachment["part"])
    return folder.read_message(uid), part, attachment


def _inner_part(mailbox: UserMailbox, name: str, uid: int, index: int, inner: int
                ) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """Attachment `inner` of the message attached as `index`."""
    raw, part, attachment = _part(mailbox, name, uid, index)
    if not attachment.get("content_type", "").startswith("message/"):
        raise NotFound("not an attached message")
    message = render.part_bytes(raw, part)
    meta = parse_message(message)
    attachments = (meta.get("summary") or {}).get("attachments") or []
    if inner >= len(attachments):
        raise NotFound("no such attachment")
    return message, render.find_part(meta, attachments[inner]["part"]), attachments[inner]


@routes.get(BASE + "/part/{index:[0-9]{1,5}}/part/{inner:[0-9]{1,5}}")
@view()
async def inner_attachment(page: Page) -> web.StreamResponse:
    name, uid = _target(page)
    info = page.request.match_info
    found = await page.run(_inner_part, page.mailbox, name, uid, int(info["index"]),
                           int(info["inner"]))
    return download(page, *found, fallback=f"part-{info['inner']}")


@routes.get(BASE + "/part/{index:[0-9]{1,5}}")
@view()
async def attachment(page: Page) -> web.StreamResponse:
    name, uid = _target(page)
    index = int(page.request.match_info["index"])
    found = await page.run(_part, page.mailbox, name, uid, index)
    return download(page, *found, fallback=f"part-{index}")


def download(page: Page, raw: bytes, part: dict[str, Any], meta: dict[str, Any], *,
             fallback: str) -> web.Response:
    """An attachment's decoded bytes: a download, or an inline raster image for cid:."""
    data = render.part_bytes(raw, part)
    ctype = (meta.get("content_type") or "application/octet-stream").lower()
    inline = page.request.query.get("inline") == "1" and ctype in INLINE_TYPES
    if not inline and ctype.startswith("text/"):
        ctype = "application/octet-stream"  # never rendered as a page of ours
    filename = meta.get("filename") or fallback
    response = web.Response(body=data, content_type=ctype if "/" in ctype else
                            "application/octet-stream", headers={
                                "Content-Disposition": content_disposition(
                                    "inline" if inline else "attachment", filename)})
    security_headers(response, "default-src 'none'; sandbox")
    return response


@routes.get(BASE + "/body")
@view()
async def body_frame(page: Page) -> web.StreamResponse:
    """The sanitised HTML of a message as its own document, for the sandboxed frame. The
    rendering is the one the JSON API uses, saved on disk for every worker
    (`rmail.store.rendercache`); only the `cid:` links to this page's part URLs are filled
    in per request."""
    name, uid = _target(page)
    remote = page.request.query.get("remote") == "1"

    def build() -> bytes:
        folder = page.mailbox.folder(name)
        body = rendercache.rendered(folder, uid, allow_remote=remote)
        parts = body.html(lambda i: page.url.message(folder.name, uid, f"part/{i}", inline=1))
        return render.html_document("<hr>".join(parts)).encode("utf-8")

    document = await page.run(build)
    response = web.Response(body=document, content_type="text/html", charset="utf-8")
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    security_headers(response, render.frame_csp(page.url.origin, allow_remote=remote))
    return response


@routes.get(BASE + "/source")
@view()
async def source(page: Page) -> web.StreamResponse:
    name, uid = _target(page)
    raw = await page.run(lambda: page.mailbox.folder(name).read_message(uid))
    response = web.Response(body=raw, content_type="text/plain", charset="utf-8")
    security_headers(response, "default-src 'none'; sandbox")
    return response


@routes.get(BASE)
@view()
async def detail(page: Page) -> web.StreamResponse:
    name, uid = _target(page)
    remote = page.request.query.get("remote") == "1"
    loaded = await page.run(load, page, page.mailbox, name, uid, remote, page.tz)
    page._sidebar = loaded.sidebar
    targets = [f.name for f in loaded.sidebar if f.selectable and f.name != loaded.folder]
    return await page.render("message.html", title=loaded.summary.get("subject") or
                             "(no subject)", folder=loaded.folder, m=loaded, nested=False,
                             inner_names=[], remote=remote, move_targets=targets)


@routes.post(BASE + "/{action:[a-z-]{1,20}}")
@view()
async def action(page: Page) -> web.StreamResponse:
    name, uid = _target(page)
    act = page.request.match_info["action"]
    if act not in ACTIONS:
        raise HttpError(404, "No such action")
    mailbox = page.mailbox
    entry = await page.run(mailbox.entry, name)
    rec = await page.run(lambda: mailbox.folder(name).record(uid))
    list_url = page.url.folder(entry.name)
    message_url = page.url.message(entry.name, uid)
    if act == "delete" and entry.special_use == "\\Trash" and page.form.get("confirm") != "yes":
        return await page.render("confirm.html", title="Delete for ever?",
                                 action_url=page.url.message(entry.name, uid, "delete"),
                                 fields=[], count=1, cancel_url=message_url, folder=entry.name)
    quota = page.user.account.quota_bytes
    if act == "toggle-read" or act == "mark-unread":
        unread = act == "mark-unread" or SEEN in rec.flags
        await page.run(apply_action, mailbox, quota, entry.name, [uid],
                       "mark-unread" if unread else "mark-read", None)
        raise page.redirect(list_url if unread else message_url)
    if act == "toggle-star":
        await page.run(apply_action, mailbox, quota, entry.name, [uid],
                       "unstar" if FLAGGED in rec.flags else "star", None)
        raise page.redirect(message_url)
    target = page.form.get("target")
    await page.run(apply_action, mailbox, quota, entry.name, [uid], act,
                   str(target) if target else None)
    raise page.redirect(list_url)
