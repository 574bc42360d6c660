"""Composing and sending a message as a logged-in user: the core shared by the JSON API
(`POST /messages/send`) and the webmail's compose form, so both apply the same checks, build
the same MIME message and go through the same submission pipeline (sender whitelist,
submission switch, recipient limits, local delivery, the queue) and the same Sent copy.

Front ends parse their own input (JSON, a form) into an `Outgoing` and map `ComposeError` to
their own answer; `status` is the HTTP status the refusal stands for.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Any

from rmail.auth import Principal
from rmail.delivery.outcome import DeliveryReport, SubmissionRefused
from rmail.store.accounts import split_address
from rmail.store.errors import InvalidValue, StoreError

__all__ = ["ComposeError", "Outgoing", "Sent", "build_message", "parse_address",
           "parse_msg_id", "save_draft", "send", "serialise"]

log = logging.getLogger("rmail.delivery.compose")

MAX_RECIPIENTS = 500
MAX_ATTACHMENTS = 100
_MIME_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"  # RFC 6838 §4.2
MIME_TYPE = re.compile(f"{_MIME_TOKEN}/{_MIME_TOKEN}")
_MSG_ID = re.compile(r"<?([^<>\s]+@[^<>\s]+)>?")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ComposeError(Exception):
    """A refusal: bad input (400), too large (413), refused by policy (403), over the daily
    recipient limit (429), or temporarily impossible (503)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Outgoing:
    """A message as the user wrote it (already split into fields)."""

    to: list[Address]
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    html: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # name, type, data

    @property
    def envelope(self) -> list[str]:
        return list(dict.fromkeys(a.addr_spec for a in [*self.to, *self.cc, *self.bcc]))


@dataclass
class Sent:
    message_id: str
    report: DeliveryReport
    sent_uid: int | None


def parse_address(item: str, name: str) -> Address:
    """`alice@example.com` or `Alice <alice@example.com>`: exactly one address."""
    parsed = getaddresses([item])
    if len(parsed) != 1 or not parsed[0][1] or CONTROL.search(item):
        raise ComposeError(400, f"{name}: {item!r} is not one e-mail address")
    display, addr = parsed[0]
    try:
        local, domain = split_address(addr)
    except InvalidValue:
        raise ComposeError(400, f"{name}: {item!r} is not a valid e-mail address") from None
    return Address(display_name=display, username=local, domain=domain)


def parse_msg_id(value: str, name: str) -> str:
    m = _MSG_ID.fullmatch(value.strip())
    if not m:
        raise ComposeError(400, f"{name}: {value!r} is not a Message-ID")
    return f"<{m.group(1)}>"


def check_attachment(filename: str, ctype: str, where: str) -> None:
    if not filename.strip() or CONTROL.search(filename) or "/" in filename or \
            len(filename) > 255:
        raise ComposeError(400, f"{where}: not a valid file name")
    if not MIME_TYPE.fullmatch(ctype):
        raise ComposeError(400, f"{where}: content type is not a MIME type")


def build_message(principal: Principal, hostname: str, out: Outgoing, *,
                  draft: bool = False) -> EmailMessage:
    """The MIME message without Bcc (From: the caller's main address). A draft may lack
    recipients."""
    if not out.to and not draft:
        raise ComposeError(400, "Add at least one recipient")
    if len(out.envelope) > MAX_RECIPIENTS:
        raise ComposeError(400, f"At most {MAX_RECIPIENTS} recipients")
    if len(out.attachments) > MAX_ATTACHMENTS:
        raise ComposeError(400, f"At most {MAX_ATTACHMENTS} attachments")
    if CONTROL.search(out.subject):
        raise ComposeError(400, "The subject must not contain control characters")
    account = principal.account
    local, _, domain = principal.address.rpartition("@")
    msg = EmailMessage(policy=policy.SMTP)
    try:
        msg["From"] = Address(display_name=account.display_name, username=local, domain=domain)
        if out.to:
            msg["To"] = out.to
        if out.cc:
            msg["Cc"] = out.cc
        msg["Subject"] = out.subject
        msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        msg["Message-ID"] = make_msgid(domain=hostname)
        references = list(out.references)
        if out.in_reply_to:
            parent = parse_msg_id(out.in_reply_to, "in_reply_to")
            msg["In-Reply-To"] = parent
            if parent not in references:
                references.append(parent)
        if references:
            msg["References"] = " ".join(references)
        msg.set_content(out.text)
        if out.html is not None:
            msg.add_alternative(out.html, subtype="html")
        for filename, ctype, data in out.attachments:
            maintype, subtype = ctype.split("/", 1)
            if maintype == "message" or maintype == "multipart":  # attach as opaque data
                maintype, subtype = "application", "octet-stream"
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    except ValueError as exc:  # the email package refusing a value we did not foresee
        raise ComposeError(400, f"Cannot compose the message: {exc}") from None
    return msg


def serialise(msg: EmailMessage) -> bytes:
    try:
        return msg.as_bytes(policy=policy.SMTP)
    except UnicodeEncodeError:  # an internationalised address: RFC 6532 headers
        return msg.as_bytes(policy=policy.SMTPUTF8)


def _refusal(reply: Any) -> ComposeError:
    """Policy (5.7.x and other 5xx) 403, the daily recipient limit (4.7.x) 429, anything else
    temporary 503."""
    text = f"{reply.text} ({reply.code} {reply.status})"
    if reply.temporary:
        return ComposeError(429 if reply.status.startswith("4.7") else 503, text)
    return ComposeError(403, text)


async def send(services: Any, principal: Principal, out: Outgoing, *, protocol: str,
               peer_ip: str | None, run: Any) -> Sent:
    """Build, submit and file a Sent copy (with its Bcc line). `run` calls the synchronous
    store off the loop. A failed Sent copy (quota) does not undo a send that happened: it is
    logged and `sent_uid` is None."""
    limit = services.config.max_message_bytes
    msg = build_message(principal, services.config.hostname, out)
    raw = serialise(msg)
    if len(raw) > limit:
        raise ComposeError(413, f"Message larger than {limit} bytes")
    delivery = getattr(services, "delivery", None)
    if delivery is None:
        raise ComposeError(503, "Sending is not available on this server")
    received = delivery.received(protocol=protocol, peer_ip=peer_ip)
    try:
        report = await delivery.submit(raw, principal=principal, mail_from=principal.address,
                                       recipients=out.envelope, received=received)
    except SubmissionRefused as exc:
        raise _refusal(exc.reply) from None
    if not report.accepted:
        raise _refusal(report.reply())
    if out.bcc:
        msg["Bcc"] = out.bcc
    copy = serialise(msg)

    def store() -> int:
        mailbox = services.mail.mailbox(principal.domain, principal.username)
        folder = mailbox.folder_by_special_use("\\Sent") or mailbox.folder("Sent")
        return folder.append(copy, ["\\Seen"], quota_bytes=principal.account.quota_bytes).uid

    try:
        sent_uid: int | None = await run(store)
    except StoreError as exc:
        log.warning("sent copy for %s not saved: %s", principal.address, exc)
        sent_uid = None
    return Sent(str(msg["Message-ID"]), report, sent_uid)


def save_draft(services: Any, principal: Principal, out: Outgoing,
               replaces: int | None = None) -> int:
    """File the message in Drafts (`\\Draft \\Seen`, Bcc kept) and drop the draft it replaces;
    synchronous (a store call). Returns the new draft's UID."""
    msg = build_message(principal, services.config.hostname, out, draft=True)
    if out.bcc:
        msg["Bcc"] = out.bcc
    raw = serialise(msg)
    if len(raw) > services.config.max_message_bytes:
        raise ComposeError(413, "Draft too large")
    mailbox = services.mail.mailbox(principal.domain, principal.username)
    folder = mailbox.folder_by_special_use("\\Drafts")
    if folder is None:
        folder = mailbox.create_folder("Drafts", "\\Drafts")
    uid = folder.append(raw, ["\\Draft", "\\Seen"],
                        quota_bytes=principal.account.quota_bytes).uid
    if replaces is not None:
        folder.store_flags([replaces], "add", ["\\Deleted"])
        folder.expunge([replaces], only_deleted=True)
    return uid
