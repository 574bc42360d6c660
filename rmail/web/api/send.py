"""`POST /messages/send`: compose a MIME message from JSON and submit it as the caller.

The message is built here (From: the caller's main address, Message-ID, Date; Bcc never in
the sent headers) and handed to `services.delivery.submit`, which applies the same sender
checks as SMTP submission, delivers local recipients and queues remote ones. A copy, with its
Bcc line, is then stored in the caller's Sent folder.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Any

from aiohttp import web

from rmail.auth import Principal
from rmail.store.accounts import split_address
from rmail.store.errors import InvalidValue, StoreError
from rmail.web.api.base import (
    JSON_LIMIT,
    core,
    get_str,
    get_str_list,
    json_response,
    read_json,
    require_user,
    run,
)
from rmail.web.errors import ApiError

routes = web.RouteTableDef()
log = logging.getLogger("rmail.web.send")

SEND_FIELDS = ("to", "cc", "bcc", "subject", "body", "html", "in_reply_to", "references",
               "attachments")
MAX_RECIPIENTS = 500
MAX_ATTACHMENTS = 100
_MIME_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"  # RFC 6838 §4.2
_MIME_TYPE = re.compile(f"{_MIME_TOKEN}/{_MIME_TOKEN}")
_MSG_ID = re.compile(r"<?([^<>\s]+@[^<>\s]+)>?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _recipients(body: dict[str, Any], name: str, *, required: bool = False) -> list[Address]:
    """`alice@example.com` or `Alice <alice@example.com>`, one address per item."""
    out = []
    for item in get_str_list(body, name, required=required, max_items=MAX_RECIPIENTS,
                             max_length=500):
        parsed = getaddresses([item])
        if len(parsed) != 1 or not parsed[0][1] or _CONTROL.search(item):
            raise ApiError(400, f"{name}: {item!r} is not one e-mail address")
        display, addr = parsed[0]
        try:
            local, domain = split_address(addr)
        except InvalidValue:
            raise ApiError(400, f"{name}: {item!r} is not a valid e-mail address") from None
        out.append(Address(display_name=display, username=local, domain=domain))
    return out


def _text(body: dict[str, Any], name: str, max_length: int, *, header: bool = False) -> str:
    value = get_str(body, name, default="", max_length=max_length) or ""
    if header and _CONTROL.search(value):
        raise ApiError(400, f"Field {name} must not contain control characters")
    return value


def _msg_id(value: str, name: str) -> str:
    m = _MSG_ID.fullmatch(value.strip())
    if not m:
        raise ApiError(400, f"{name}: {value!r} is not a Message-ID")
    return f"<{m.group(1)}>"


def _attachments(body: dict[str, Any], limit: int) -> list[tuple[str, str, bytes]]:
    items = body.get("attachments", [])
    if not isinstance(items, list) or len(items) > MAX_ATTACHMENTS:
        raise ApiError(400, f"Field attachments must be a list of at most {MAX_ATTACHMENTS}")
    out = []
    total = 0
    for index, item in enumerate(items):
        where = f"attachments[{index}]"
        if not isinstance(item, dict) or set(item) - {"filename", "content_type", "content"}:
            raise ApiError(400, f"{where} must be an object with filename, content_type, "
                                "content")
        filename = get_str(item, "filename", required=True, max_length=255) or ""
        ctype = get_str(item, "content_type", default="application/octet-stream",
                        max_length=255) or ""
        content = get_str(item, "content", required=True, max_length=2 * limit) or ""
        if not filename.strip() or _CONTROL.search(filename) or "/" in filename:
            raise ApiError(400, f"{where}.filename is not a valid file name")
        if not _MIME_TYPE.fullmatch(ctype):
            raise ApiError(400, f"{where}.content_type is not a MIME type")
        try:
            data = base64.b64decode("".join(content.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, f"{where}.content is not valid base64") from None
        total += len(data)
        if total > limit:
            raise ApiError(413, f"Attachments larger than {limit} bytes")
        out.append((filename, ctype.lower(), data))
    return out


def compose(principal: Principal, hostname: str, body: dict[str, Any], limit: int
            ) -> tuple[EmailMessage, list[Address], list[str]]:
    """(message without Bcc, Bcc addresses, envelope recipients) from a checked request."""
    to = _recipients(body, "to", required=True)
    if not to:
        raise ApiError(400, "Field to needs at least one address")
    cc, bcc = _recipients(body, "cc"), _recipients(body, "bcc")
    subject = _text(body, "subject", 2000, header=True)
    # Bodies are bounded by the request size; the composed message's size decides (413).
    text = _text(body, "body", 4 * limit)
    html = get_str(body, "html", max_length=4 * limit)
    in_reply_to = _text(body, "in_reply_to", 1000, header=True)
    references = [_msg_id(r, "references")
                  for r in get_str_list(body, "references", max_items=100, max_length=1000)]
    attachments = _attachments(body, limit)

    account = principal.account
    local, _, domain = principal.address.rpartition("@")
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = Address(display_name=account.display_name, username=local, domain=domain)
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(domain=hostname)
    if in_reply_to:
        parent = _msg_id(in_reply_to, "in_reply_to")
        msg["In-Reply-To"] = parent
        if parent not in references:
            references.append(parent)
    if references:
        msg["References"] = " ".join(references)
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    envelope = list(dict.fromkeys(a.addr_spec for a in [*to, *cc, *bcc]))
    return msg, bcc, envelope


def _serialise(msg: EmailMessage) -> bytes:
    try:
        return msg.as_bytes(policy=policy.SMTP)
    except UnicodeEncodeError:  # an internationalised address: RFC 6532 headers
        return msg.as_bytes(policy=policy.SMTPUTF8)


def _refusal(reply: Any) -> ApiError:
    """A submission refusal as an HTTP error: policy (5.7.x and other 5xx) 403, the daily
    recipient limit (4.7.x) 429, anything else temporary 503."""
    text = f"{reply.text} ({reply.code} {reply.status})"
    if reply.temporary:
        return ApiError(429 if reply.status.startswith("4.7") else 503, text)
    return ApiError(403, text)


@routes.post("/messages/send")
async def send_message(request: web.Request) -> web.Response:
    principal = await require_user(request)
    services = core(request)
    limit = services.config.max_message_bytes
    body = await read_json(request, allowed=SEND_FIELDS, limit=limit * 4 // 3 + JSON_LIMIT)
    try:
        msg, bcc, envelope = compose(principal, services.config.hostname, body, limit)
        raw = _serialise(msg)
    except ValueError as exc:  # the email package refusing a value we did not foresee
        raise ApiError(400, f"Cannot compose the message: {exc}") from None
    if len(raw) > limit:
        raise ApiError(413, f"Message larger than {limit} bytes")
    delivery = getattr(services, "delivery", None)
    if delivery is None:
        raise ApiError(503, "Sending is not available on this server")
    from rmail.delivery import SubmissionRefused  # the pipeline is optional until wired

    received = delivery.received(protocol="HTTPS" if request.secure else "HTTP",
                                 peer_ip=request.remote)
    try:
        report = await delivery.submit(raw, principal=principal, mail_from=principal.address,
                                       recipients=envelope, received=received)
    except SubmissionRefused as exc:
        raise _refusal(exc.reply) from None
    if not report.accepted:
        raise _refusal(report.reply())
    sent_uid = await _save_to_sent(services, principal, msg, bcc)
    return json_response({
        "message_id": msg["Message-ID"],
        "delivered": [o.recipient for o in report.accepted if not o.queue_id],
        "queued": [o.recipient for o in report.accepted if o.queue_id],
        "failed": [{"recipient": o.recipient, "error": str(o.reply)} for o in report.refused],
        "sent_uid": sent_uid,
    })


async def _save_to_sent(services: Any, principal: Principal, msg: EmailMessage,
                        bcc: list[Address]) -> int | None:
    """The sender's copy keeps the Bcc line. Failing to file it (quota) does not undo a send
    that already happened, so it is logged and reported as `sent_uid: null`."""
    if bcc:
        msg["Bcc"] = bcc
    raw = _serialise(msg)

    def store() -> int:
        mailbox = services.mail.mailbox(principal.domain, principal.username)
        folder = mailbox.folder_by_special_use("\\Sent") or mailbox.folder("Sent")
        result = folder.append(raw, ["\\Seen"], quota_bytes=principal.account.quota_bytes)
        return result.uid

    try:
        return await run(store)
    except StoreError as exc:
        log.warning("sent copy for %s not saved: %s", principal.address, exc)
        return None
