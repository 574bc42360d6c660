"""Compose, reply, forward and drafts: `GET|POST /webmail/compose`.

The form is multipart (attachments), its `csrf` field first. Sending goes through the core
shared with `POST /messages/send` (`rmail.delivery.compose.send`): the same submission policy
and pipeline, the same Sent copy. A refusal re-renders the form with a `.form-error` and what
the user typed (files must be chosen again: browsers never refill a file input).

`?reply=`, `?reply_all=` and `?forward=` name the original as `folder/uid`; `?draft=uid` opens
a draft from Drafts. A reply gets `Re:`, the quoted text, `In-Reply-To` and `References`; a
forward keeps the original's attachments (added at send time from the stored message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import getaddresses
from typing import Any

from aiohttp import BodyPartReader, web

from rmail.delivery.compose import (
    CONTROL,
    ComposeError,
    Outgoing,
    check_attachment,
    parse_address,
    parse_msg_id,
    save_draft,
    send,
)
from rmail.mail import render
from rmail.mail.parse import parse_message
from rmail.mail.render import find_part
from rmail.store.errors import NotFound
from rmail.store.mailbox import UserMailbox
from rmail.web.errors import HttpError
from rmail.web.webmail import format as fmt
from rmail.web.webmail.context import Page, view
from rmail.web.webmail.folders import folder_from_url

__all__ = ["routes"]

routes = web.RouteTableDef()
TEXT_LIMIT = 4 * 1024 * 1024      # bytes of one text field
FIELDS = ("to", "cc", "bcc", "subject", "body", "in_reply_to", "references", "draft",
          "forward", "action")


@dataclass
class Form:
    """What the compose form shows (and what came back from it)."""

    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    in_reply_to: str = ""
    references: str = ""
    draft: str = ""
    forward: str = ""
    action: str = "send"
    forward_names: list[str] = field(default_factory=list)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The page heading: what the person is writing, as they chose it."""
        if self.draft:
            return "Draft"
        if self.forward:
            return "Forward"
        if self.in_reply_to:
            return "Reply"
        return "New message"


def _original(mailbox: UserMailbox, ref: str) -> tuple[str, int, dict[str, Any], bytes]:
    folder_part, sep, uid = ref.rpartition("/")
    if not sep or not uid.isdigit():
        raise HttpError(400, "Bad message reference")
    folder = mailbox.folder(folder_from_url(folder_part))
    meta = folder.meta(int(uid))
    return folder.name, int(uid), meta, folder.read_message(int(uid))


def _plain(raw: bytes, meta: dict[str, Any]) -> str:
    return render.readable_text(raw, meta["body"], prefer="plain")


def _fmt(addrs: list[dict[str, str]]) -> str:
    out = []
    for a in addrs:
        name, address = a.get("name") or "", a.get("address") or ""
        out.append(str(Address(display_name=name, addr_spec=address)) if name and address
                   else address)
    return ", ".join(x for x in out if x)


def prefill(page: Page, mailbox: UserMailbox, query: dict[str, str]) -> Form:
    """The form for a new message, a reply, a forward or a draft."""
    me = {a.lower() for a in page.user.account.addresses} | {page.user.address.lower()}
    if ref := query.get("reply") or query.get("reply_all"):
        _, _, meta, raw = _original(mailbox, ref)
        s = meta.get("summary") or {}
        to = s.get("reply_to") or ([s["from"]] if s.get("from") else [])
        cc: list[dict[str, str]] = []
        if query.get("reply_all"):
            seen = {a.get("address", "").lower() for a in to} | me
            for a in (s.get("to") or []) + (s.get("cc") or []):
                if a.get("address", "").lower() not in seen:
                    seen.add(a.get("address", "").lower())
                    cc.append(a)
        subject = s.get("subject") or ""
        if not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
        sender = (s.get("from") or {}).get("name") or (s.get("from") or {}).get("address", "")
        quoted = "\n".join("> " + line for line in _plain(raw, meta).splitlines())
        refs = list(s.get("references") or [])
        if s.get("message_id"):
            refs.append(s["message_id"])
        when = fmt.long_date(fmt.to_datetime(s.get("date"), page.tz)) or "an earlier date"
        return Form(to=_fmt(to), cc=_fmt(cc), subject=subject,
                    body=f"\n\nOn {when}, {sender} wrote:\n"
                         f"{quoted}\n",
                    in_reply_to=s.get("message_id") or "", references=" ".join(refs[-20:]))
    if ref := query.get("forward"):
        _, _, meta, raw = _original(mailbox, ref)
        s = meta.get("summary") or {}
        subject = s.get("subject") or ""
        if not subject.lower().startswith(("fwd:", "fw:")):
            subject = f"Fwd: {subject}"
        sender = _fmt([s["from"]]) if s.get("from") else ""
        header = (f"\n\n---------- Forwarded message ----------\nFrom: {sender}\n"
                  f"Date: {s.get('date') or ''}\nSubject: {s.get('subject') or ''}\n"
                  f"To: {_fmt(s.get('to') or [])}\n\n")
        names = [a.get("filename") or "attachment" for a in s.get("attachments") or []
                 if not a.get("inline")]
        return Form(subject=subject, body=header + _plain(raw, meta) + "\n", forward=ref,
                    forward_names=names)
    if uid := query.get("draft"):
        if not uid.isdigit():
            raise HttpError(400, "Bad draft reference")
        drafts = mailbox.folder_by_special_use("\\Drafts")
        if drafts is None:
            raise HttpError(404, "No Drafts folder")
        meta = drafts.meta(int(uid))
        raw = drafts.read_message(int(uid))
        s = meta.get("summary") or {}
        bcc = parse_message(raw)["envelope"].get("bcc") or []
        bcc_text = ", ".join(f"{b[2]}@{b[3]}" for b in bcc if b[2] and b[3])
        return Form(to=_fmt(s.get("to") or []), cc=_fmt(s.get("cc") or []), bcc=bcc_text,
                    subject=s.get("subject") or "", body=_plain(raw, meta),
                    in_reply_to=s.get("in_reply_to") or "",
                    references=" ".join(s.get("references") or []), draft=uid)
    return Form(to=query.get("to", ""), subject=query.get("subject", ""))


@routes.get("/webmail/compose")
@view()
async def compose_form(page: Page) -> web.StreamResponse:
    query = {k: v for k, v in page.request.query.items() if isinstance(v, str)}
    form = await page.run(prefill, page, page.mailbox, query)
    return await page.render("compose.html", title="Compose", form=form, error=None,
                             area="compose")


async def read_form(page: Page) -> Form:
    """The multipart body after its csrf part: text fields and files, within the limits (an
    urlencoded form, without files, is accepted too)."""
    if page.request.content_type == "application/x-www-form-urlencoded":
        form = Form()
        for name in FIELDS:
            value = page.form.get(name)
            if isinstance(value, str):
                setattr(form, name, value.replace("\r\n", "\n"))
        return form
    reader = await page.multipart()
    limit = page.config.max_message_bytes
    form = Form()
    total = 0
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise HttpError(400, "Nested multipart is not accepted")
        name = part.name or ""
        if name == "attachments":
            if not part.filename:
                await part.release()
                continue
            data = bytearray()
            while chunk := await part.read_chunk(256 * 1024):
                data += chunk
                total += len(chunk)
                if total > limit:
                    raise HttpError(413, f"Attachments larger than {limit} bytes")
            if part.filename or data:
                ctype = (part.headers.get("Content-Type") or "application/octet-stream")
                ctype = ctype.split(";")[0].strip().lower() or "application/octet-stream"
                form.files.append((part.filename, ctype, bytes(data)))
        elif name in FIELDS:
            raw = await part.read(decode=True)
            if len(raw) > TEXT_LIMIT:
                raise HttpError(413, f"Field {name} is too long")
            setattr(form, name, raw.decode("utf-8", "replace").replace("\r\n", "\n"))
        else:
            await part.release()
    return form


def _addresses(text: str, name: str) -> list[Address]:
    if CONTROL.sub("", text.replace("\n", " ")) != text.replace("\n", " "):
        raise ComposeError(400, f"{name}: control characters are not allowed")
    items = [f"{n} <{a}>" if n else a for n, a in getaddresses([text.replace("\n", " ")])
             if a or n]
    return [parse_address(item, name) for item in items]


def outgoing(form: Form, forwarded: list[tuple[str, str, bytes]]) -> Outgoing:
    for filename, ctype, _ in form.files:
        check_attachment(filename, ctype if "/" in ctype else "application/octet-stream",
                         f"attachment {filename!r}")
    refs = [parse_msg_id(r, "references") for r in form.references.split() if r][-50:]
    return Outgoing(to=_addresses(form.to, "To"), cc=_addresses(form.cc, "Cc"),
                    bcc=_addresses(form.bcc, "Bcc"), subject=form.subject.strip(),
                    text=form.body,
                    in_reply_to=parse_msg_id(form.in_reply_to, "in_reply_to")
                    if form.in_reply_to.strip() else None,
                    references=refs, attachments=[*forwarded, *form.files])


def forwarded_files(mailbox: UserMailbox, ref: str) -> list[tuple[str, str, bytes]]:
    """The original's attachments, for a forward."""
    if not ref:
        return []
    try:
        _, _, meta, raw = _original(mailbox, ref)
    except NotFound:
        raise ComposeError(400, "The forwarded message is gone") from None
    out = []
    for a in (meta.get("summary") or {}).get("attachments") or []:
        if a.get("inline"):
            continue
        part = find_part(meta, a["part"])
        out.append((a.get("filename") or "attachment", a.get("content_type") or
                    "application/octet-stream", render.part_bytes(raw, part)))
    return out


@routes.post("/webmail/compose")
@view()
async def compose_submit(page: Page) -> web.StreamResponse:
    form = await read_form(page)
    action = form.action
    mailbox = page.mailbox
    try:
        forwarded = await page.run(forwarded_files, mailbox, form.forward)
        out = outgoing(form, forwarded)
        replaces = int(form.draft) if form.draft.isdigit() else None
        if action == "draft":
            uid = await page.run(save_draft, page.services, page.user, out, replaces)
            raise page.redirect("/webmail/compose", draft=uid, saved=1)
        await send(page.services, page.user, out,
                   protocol="HTTPS" if page.request.secure else "HTTP",
                   peer_ip=page.request.remote, run=page.run)
        if replaces is not None:
            await page.run(_drop_draft, mailbox, replaces)
        if form.in_reply_to:
            await page.run(_mark_answered, mailbox, form.in_reply_to)
    except ComposeError as exc:
        form.files = []
        return await page.render("compose.html", status=exc.status, title="Compose",
                                 form=form, error=exc.message, area="compose")
    raise page.redirect("/webmail/INBOX", sent=1)


def _drop_draft(mailbox: UserMailbox, uid: int) -> None:
    drafts = mailbox.folder_by_special_use("\\Drafts")
    if drafts is not None:
        drafts.store_flags([uid], "add", ["\\Deleted"])
        drafts.expunge([uid], only_deleted=True)


def _mark_answered(mailbox: UserMailbox, message_id: str) -> None:
    """`\\Answered` on the original in INBOX (as a client does after replying), if found among
    the newest messages (no folder scan)."""
    wanted = message_id.strip()
    try:
        inbox = mailbox.folder("INBOX")
    except NotFound:
        return
    for rec in inbox.records(0, 500):
        try:
            summary = inbox.meta(rec.uid).get("summary") or {}
        except Exception:  # a vanished or unreadable message: skip it
            continue
        if summary.get("message_id") == wanted:
            inbox.store_flags([rec.uid], "add", ["\\Answered"])
            return
