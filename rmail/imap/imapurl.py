"""IMAP URLs (RFC 5092) as CATENATE (RFC 4469) uses them: a message, or a section or byte
range of one, in a mailbox of the logged-in user. Parsing only; `commands/append.py` reads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

MAX_URL = 8192
_SCHEME = re.compile(r"imap://([^/]*)", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]{1,10}")
_PARAM = re.compile(r";([A-Za-z]+)=(.*)\Z", re.DOTALL)


class UrlError(ValueError):
    """Not an IMAP URL naming a message this server can reach."""


@dataclass(frozen=True, slots=True)
class ImapUrl:
    user: str | None  # from an absolute URL's authority, when it names one
    mailbox: str
    uidvalidity: int | None
    uid: int
    section: str | None  # the section-spec, still to be parsed
    partial: tuple[int, int | None] | None  # (offset, length or None)


def _number(text: str, what: str) -> int:
    if not _DIGITS.fullmatch(text) or (int(text) == 0 and what != "offset"):
        raise UrlError(f"invalid {what} {text!r}")
    return int(text)


def parse_url(url: str) -> ImapUrl:
    """`imap://user@host/INBOX;UIDVALIDITY=5/;UID=3/;SECTION=1.2/;PARTIAL=0.100`, or the
    same from "/INBOX..." on (relative to this server)."""
    if len(url) > MAX_URL:
        raise UrlError("URL too long")
    user = None
    m = _SCHEME.match(url)
    if m is not None:
        authority = m.group(1)
        if "@" in authority:
            user = unquote(authority.rsplit("@", 1)[0].split(";", 1)[0])
        url = url[m.end():]
    if not url.startswith("/") or url.startswith("//"):
        raise UrlError("expected an absolute path /mailbox/;UID=n")
    segments = url[1:].split("/;")
    head = segments[0]
    mailbox_raw, sep, rest = head.partition(";")
    uidvalidity = None
    if sep:
        pm = _PARAM.match(";" + rest)
        if pm is None or pm.group(1).upper() != "UIDVALIDITY":
            raise UrlError(f"unexpected mailbox parameter {rest!r}")
        uidvalidity = _number(pm.group(2), "UIDVALIDITY")
    mailbox = unquote(mailbox_raw.rstrip("/"), errors="strict")
    if not mailbox:
        raise UrlError("no mailbox")
    params: dict[str, str] = {}
    for seg in segments[1:]:
        key, eq, value = seg.partition("=")
        key = key.upper()
        if not eq or key not in ("UID", "SECTION", "PARTIAL") or key in params:
            raise UrlError(f"unexpected URL part {seg!r}")
        params[key] = unquote(value, errors="strict")
    if "UID" not in params:
        raise UrlError("no UID")
    partial = None
    if "PARTIAL" in params:
        offset, dot, length = params["PARTIAL"].partition(".")
        partial = (_number(offset, "offset"), _number(length, "length") if dot else None)
    return ImapUrl(user, mailbox, uidvalidity, _number(params["UID"], "UID"),
                   params.get("SECTION") or None, partial)
