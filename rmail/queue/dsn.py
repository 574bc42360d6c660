"""Delivery status notifications (RFC 3464): the bounce sent to the sender of a message that
could not be delivered. Pure: bytes in, bytes out.

The report is ``multipart/report; report-type=delivery-status`` (RFC 6522) with three parts: a
human explanation, the machine-readable ``message/delivery-status``, and the original
message's header section (``text/rfc822-headers``), so a bounce never carries a large body
back. It is sent with the null envelope sender, and rmail never bounces a message whose own
envelope sender is null, so two servers cannot bounce a bounce back and forth.
"""

from __future__ import annotations

import email.utils
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rmail.delivery.policy import header_block
from rmail.delivery.replies import Reply

__all__ = ["DsnRecipient", "build_dsn"]

MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class DsnRecipient:
    address: str
    reply: Reply
    remote_mta: str | None = None
    action: str = "failed"  # RFC 3464 §2.3.3: failed | delayed | delivered | relayed | expanded


def _date(when: float) -> str:
    return email.utils.formatdate(when, localtime=True)


def _one_line(text: str) -> str:
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


def build_dsn(*, hostname: str, sender: str, original: bytes, recipients: Sequence[DsnRecipient],
              queue_id: str | None = None, arrival: float | None = None,
              now: float | None = None) -> bytes:
    """A complete RFC 5322 message reporting ``recipients`` to ``sender`` (CRLF endings)."""
    now = time.time() if now is None else now
    boundary = f"=_rmail-dsn-{secrets.token_hex(12)}"
    failed = [r for r in recipients if r.action == "failed"]
    subject = ("Undelivered Mail Returned to Sender" if failed
               else "Delivery Status Notification")

    human = [
        f"This is the mail system at {hostname}.",
        "",
        "Your message could not be delivered to one or more recipients:" if failed
        else "This is a report about your message:",
        "",
    ]
    for r in recipients:
        where = f" (at {r.remote_mta})" if r.remote_mta else ""
        human.append(f"<{r.address}>{where}: {_one_line(str(r.reply))}")
    human += ["", "The headers of your message follow at the end of this report.", ""]

    per_message = [f"Reporting-MTA: dns; {hostname}"]
    if queue_id:
        per_message.append(f"X-Rmail-Queue-ID: {queue_id}")
    if arrival is not None:
        per_message.append(f"Arrival-Date: {_date(arrival)}")
    blocks = ["\r\n".join(per_message)]
    for r in recipients:
        kind = "rfc822" if r.address.isascii() else "utf-8"  # RFC 6533 §3
        fields = [f"Final-Recipient: {kind}; {r.address}", f"Action: {r.action}",
                  f"Status: {r.reply.status}"]
        if r.remote_mta:
            fields.append(f"Remote-MTA: dns; {r.remote_mta}")
        fields.append(f"Diagnostic-Code: smtp; {_one_line(str(r.reply))}")
        fields.append(f"Last-Attempt-Date: {_date(now)}")
        blocks.append("\r\n".join(fields))

    headers = header_block(original)[:MAX_HEADER_BYTES].rstrip(b"\r\n") + b"\r\n"
    domain = hostname
    out = [
        f"From: Mail Delivery System <MAILER-DAEMON@{hostname}>",
        f"To: <{sender}>",
        f"Subject: {subject}",
        f"Date: {_date(now)}",
        f"Message-ID: <{secrets.token_hex(12)}@{domain}>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated delivery status notification.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "Content-Description: Notification",
        "",
        *human,
        f"--{boundary}",
        "Content-Type: message/delivery-status" if all(r.address.isascii() for r in recipients)
        else "Content-Type: message/global-delivery-status",
        "Content-Description: Delivery report",
        "",
        "\r\n\r\n".join(blocks),
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "Content-Description: Undelivered message headers",
        "",
    ]
    head = "\r\n".join(out).encode("utf-8") + b"\r\n"
    return head + headers + f"\r\n--{boundary}--\r\n".encode()
