"""`POST /messages/send`: compose a MIME message from JSON and submit it as the caller.

The JSON is checked here; building the message (From: the caller's main address, Message-ID,
Date; Bcc never in the sent headers), the submission (the same sender checks as SMTP
submission, local delivery, the queue) and the Sent copy with its Bcc line are the core
shared with the webmail (`rmail.delivery.compose`).
"""

from __future__ import annotations

import base64
import binascii
from email.headerregistry import Address
from typing import Any

from aiohttp import web

from rmail.delivery.compose import (
    CONTROL,
    MAX_ATTACHMENTS,
    MAX_RECIPIENTS,
    MIME_TYPE,
    ComposeError,
    Outgoing,
    parse_address,
    parse_msg_id,
    send,
)
from rmail.web.api.base import (
    JSON_LIMIT,
    core,
    get_str,
    get_str_list,
    json_response,
    read_json,
    require_user,
)
from rmail.web.errors import ApiError

routes = web.RouteTableDef()

SEND_FIELDS = ("to", "cc", "bcc", "subject", "body", "html", "in_reply_to", "references",
               "attachments")


def _recipients(body: dict[str, Any], name: str, *, required: bool = False) -> list[Address]:
    """`alice@example.com` or `Alice <alice@example.com>`, one address per item."""
    return [parse_address(item, name)
            for item in get_str_list(body, name, required=required, max_items=MAX_RECIPIENTS,
                                     max_length=500)]


def _text(body: dict[str, Any], name: str, max_length: int, *, header: bool = False) -> str:
    value = get_str(body, name, default="", max_length=max_length) or ""
    if header and CONTROL.search(value):
        raise ApiError(400, f"Field {name} must not contain control characters")
    return value


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
        if not filename.strip() or CONTROL.search(filename) or "/" in filename:
            raise ApiError(400, f"{where}.filename is not a valid file name")
        if not MIME_TYPE.fullmatch(ctype):
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


def outgoing(body: dict[str, Any], limit: int) -> Outgoing:
    """The checked request as an `Outgoing`."""
    to = _recipients(body, "to", required=True)
    if not to:
        raise ApiError(400, "Field to needs at least one address")
    in_reply_to = _text(body, "in_reply_to", 1000, header=True)
    return Outgoing(
        to=to, cc=_recipients(body, "cc"), bcc=_recipients(body, "bcc"),
        subject=_text(body, "subject", 2000, header=True),
        # Bodies are bounded by the request size; the composed message's size decides (413).
        text=_text(body, "body", 4 * limit),
        html=get_str(body, "html", max_length=4 * limit),
        in_reply_to=parse_msg_id(in_reply_to, "in_reply_to") if in_reply_to else None,
        references=[parse_msg_id(r, "references")
                    for r in get_str_list(body, "references", max_items=100, max_length=1000)],
        attachments=_attachments(body, limit))


@routes.post("/messages/send")
async def send_message(request: web.Request) -> web.Response:
    principal = await require_user(request)
    services = core(request)
    limit = services.config.max_message_bytes
    body = await read_json(request, allowed=SEND_FIELDS, limit=limit * 4 // 3 + JSON_LIMIT)
    try:
        sent = await send(services, principal, outgoing(body, limit),
                          protocol="HTTPS" if request.secure else "HTTP",
                          peer_ip=request.remote, run=core(request).run)
    except ComposeError as exc:
        raise ApiError(exc.status, exc.message) from None
    report = sent.report
    return json_response({
        "message_id": sent.message_id,
        "delivered": [o.recipient for o in report.accepted if not o.queue_id],
        "queued": [o.recipient for o in report.accepted if o.queue_id],
        "failed": [{"recipient": o.recipient, "error": str(o.reply)} for o in report.refused],
        "sent_uid": sent.sent_uid,
    })
