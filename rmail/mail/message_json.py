"""Pieces of a stored message as the JSON API shows it (WildDuck's message shape): decoded
headers, the attachment list, thread ids. Pure: bytes and the stored parse
(`rmail.mail.parse`) in, plain data out. The body as sanitised HTML and text is made by
`rmail.mail.rendered` (with `cid:` images pointing at the API's own attachment route).

Attachment ids are `ATT` + the 1-based position in the summary's attachment list (stable: a
stored message never changes).
"""

from __future__ import annotations

import hashlib
from typing import Any

from rmail.mail import render
from rmail.mail.headers import header_text, split_fields

__all__ = ["attachment_id", "attachment_index", "attachments", "header_list", "thread_id"]

HEADER_BYTES = 256 * 1024  # header block read for `headers`; anything beyond is body anyway
MAX_HEADERS = 1000


def attachment_id(index: int) -> str:
    return f"ATT{index + 1:05d}"


def attachment_index(attachment: str) -> int | None:
    """The position an `ATTnnnnn` id names, None when it is not one."""
    if len(attachment) < 4 or not attachment.startswith("ATT") or not attachment[3:].isdigit():
        return None
    index = int(attachment[3:]) - 1
    return index if 0 <= index < 100_000 else None


def attachments(raw: bytes, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Every attachment of the top message with its decoded size (exact: decoded here)."""
    out = []
    for i, a in enumerate((meta.get("summary") or {}).get("attachments") or []):
        try:
            size = len(render.part_bytes(raw, render.find_part(meta, a["part"])))
        except Exception:  # a damaged part is still listed, with the estimate
            size = int(a.get("size") or 0)
        cid = (a.get("content_id") or "").strip().strip("<>") or None
        out.append({
            "id": attachment_id(i),
            "filename": a.get("filename") or "",
            "contentType": a.get("content_type") or "application/octet-stream",
            "size": size,
            "disposition": "inline" if a.get("inline") else "attachment",
            "related": bool(a.get("inline") and cid),
            "contentId": cid,
        })
    return out


def header_list(raw: bytes) -> list[dict[str, str]]:
    """The top header fields in order, decoded as display text (`headers.header_text`: raw
    UTF-8 per RFC 6532, encoded words): `[{"key", "value"}]`."""
    end = raw.find(b"\r\n\r\n", 0, HEADER_BYTES)
    alt = raw.find(b"\n\n", 0, HEADER_BYTES)
    cut = min(x for x in (end, alt, min(len(raw), HEADER_BYTES)) if x >= 0)
    return [{"key": name, "value": header_text(value.strip(b" \t\r\n"))}
            for name, value in split_fields(raw[:cut], MAX_HEADERS)]


def thread_id(scope: str, summary: dict[str, Any], fallback: str) -> str:
    """A thread id: the first message of the References chain (RFC 5256 §3's root when the
    chain is complete), else In-Reply-To, else the message's own Message-ID, else `fallback`
    (a message without any id is a thread of its own). Scoped by `scope` (the account)."""
    refs = summary.get("references") or []
    root = (refs[0] if refs else None) or summary.get("in_reply_to") or \
        summary.get("message_id") or ("\0" + fallback)
    digest = hashlib.blake2b(f"{scope}\0{root}".encode("utf-8", "surrogateescape"),
                             digest_size=10).hexdigest()
    return "T" + digest
