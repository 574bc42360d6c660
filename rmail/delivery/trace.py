"""Trace header fields (RFC 5321 §4.4) added on the way into a mailbox or the queue.

Each function returns one complete header field as bytes ending in CRLF, ready to be put in
front of the message. The message bytes themselves are never rewritten.
"""

from __future__ import annotations

import email.utils
import re
import time

__all__ = ["delivered_to", "envelope_sender", "received", "return_path"]

_UNSAFE = re.compile(r"[^\x21-\x7e\u0080-\U0010ffff]")


def _clean(text: str, limit: int = 255) -> str:
    """Client-supplied text made safe inside a header: no controls, no whitespace, bounded."""
    text = _UNSAFE.sub("?", text)[:limit]
    return text.replace("(", "?").replace(")", "?") or "unknown"


_last_date: tuple[int, str] = (0, "")


def _date(now: float) -> str:
    """RFC 5322 date of ``now`` in local time, formatted once per second (every delivery
    needs one; formatting costs more than the rest of the field)."""
    global _last_date
    second = int(now)
    cached = _last_date
    if cached[0] != second:
        cached = (second, email.utils.formatdate(second, localtime=True))
        _last_date = cached
    return cached[1]


def _fold(*lines: str) -> bytes:
    return ("\r\n\t".join(lines) + "\r\n").encode("utf-8", "surrogateescape")


def envelope_sender(mail_from: str | None) -> str:
    """The reverse-path without brackets; ``""`` for the null sender of bounces."""
    if not mail_from or mail_from.strip() in ("<>", ""):
        return ""
    return mail_from.strip().removeprefix("<").removesuffix(">")


def received(*, hostname: str, protocol: str, helo: str | None = None,
             peer_ip: str | None = None, queue_id: str | None = None,
             recipient: str | None = None, tls: str | None = None,
             when: float | None = None) -> bytes:
    """``Received: from HELO ([IP]) by HOST (rmail) with PROTO id ID for <RCPT>; DATE``.

    ``protocol`` is an RFC 3848 name (SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, LMTP, HTTP...);
    ``recipient`` is named only when the message has a single recipient, so the header never
    discloses the other recipients of a message.
    """
    origin = f"from {_clean(helo or 'unknown')}"
    if peer_ip:
        origin += f" ([{_clean(peer_ip, 64)}])"
    by = f"by {hostname} (rmail) with {protocol}"
    if tls:
        by += f" ({_clean(tls, 128).replace('?', ' ')})"
    if queue_id:
        by += f" id {queue_id}"
    date = _date(time.time()) if when is None else email.utils.formatdate(when, localtime=True)
    last = f"for <{_clean(recipient, 320)}>; {date}" if recipient else f"; {date}"
    if recipient:
        return _fold(f"Received: {origin}", by, last)
    return _fold(f"Received: {origin}", by + last)


def return_path(mail_from: str | None) -> bytes:
    """RFC 5322 §3.6.7, added by the final delivery."""
    sender = envelope_sender(mail_from)
    path = _clean(sender, 320) if sender else ""
    return f"Return-Path: <{path}>\r\n".encode("utf-8", "surrogateescape")


def delivered_to(address: str) -> bytes:
    """The mailbox the message was delivered to (after alias expansion); lets a user's filters
    and loop detection see which of several addresses brought it."""
    return f"Delivered-To: {_clean(address, 320)}\r\n".encode("utf-8", "surrogateescape")
