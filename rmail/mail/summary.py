"""The `summary` of a parsed message: what message lists and previews show, decoded.

Built from the header fields and the body structure that `parse.py` produced, reading only a
small prefix of one text part for the intro: attachments are never decoded.

Rules, for the web front ends: the intro comes from the first text/plain body part, else the
first text/html one; body parts are text/plain or text/html without a file name and not
`Content-Disposition: attachment`. Every other leaf outside attached messages is listed in
`attachments` (an attached message/rfc822 is one entry; signature parts of
multipart/signed are left out). An attachment is `inline` when its disposition says so or,
lacking one, when it has a Content-ID (an image the HTML shows); `has_attachments` counts
only the others. `reply_to` is the Reply-To header itself, without the IMAP default.
"""

from __future__ import annotations

import binascii
import html
import re
from collections.abc import Iterator
from typing import Any

from rmail.mail.addresses import parse_addresses, summary_addresses
from rmail.mail.headers import (
    Fields,
    base_subject,
    decode_base64,
    decode_text,
    decode_words,
    msg_id,
    msg_ids,
    param,
    parse_date,
)

INTRO_CHARS = 200
_PLAIN_PREFIX = 4096  # bytes of a text/plain body read for the intro
_HTML_PREFIX = 65536  # HTML spends its first kilobytes on <head> and <style>
_INTRO_CANDIDATES = 4
_SIGNATURES = {"pgp-signature", "pkcs7-signature", "x-pkcs7-signature"}
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)?[^<>]*>")  # [^<>]: a stray "<" stays linear
_HIDDEN = {"head", "script", "style", "title"}
_INLINE = {"a", "b", "big", "em", "font", "i", "small", "span", "strong", "sub", "sup", "u"}


def build_summary(
    raw: bytes, fields: Fields, env: dict[str, Any], body: dict[str, Any]
) -> dict[str, Any]:
    """Decoded header summary, intro text and attachment list of the top message."""
    get = fields.get
    subject = " ".join(decode_words(get("subject") or "").split())
    senders = summary_addresses(env["from"])
    reply_to = get("reply-to")
    texts: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []
    # one pass sorts the leaves (the body itself, most often): body text, attachment or neither
    for leaf in _leaves(body) if "parts" in body else (body,):
        if _is_body_text(leaf):
            texts.append(leaf)
        elif not (leaf["type"] == "application" and leaf["subtype"] in _SIGNATURES):
            attachments.append(_attachment(raw, leaf))
    return {
        "from": senders[0] if senders else None,
        "to": summary_addresses(env["to"]),
        "cc": summary_addresses(env["cc"]) if env["cc"] else [],
        "reply_to": summary_addresses(parse_addresses(reply_to)) if reply_to else [],
        "subject": subject,
        "date": parse_date(get("date")),
        "message_id": msg_id(get("message-id")),
        "in_reply_to": msg_id(get("in-reply-to")),
        "references": msg_ids(get("references")),
        "intro": _intro(raw, texts),
        "has_attachments": any(not a["inline"] for a in attachments),
        "attachments": attachments,
        "base_subject": base_subject(subject),
    }


def _leaves(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Non-multipart parts in order, not descending into attached messages."""
    stack = [node]
    while stack:
        part = stack.pop()
        if "parts" in part:
            stack.extend(reversed(part["parts"]))
        else:
            yield part


def _filename(part: dict[str, Any]) -> str | None:
    disposition = part["disposition"]
    name = param(disposition[1] if disposition else None, "filename") or param(
        part["params"], "name"
    )
    return decode_words(name) if name else None


def _is_body_text(part: dict[str, Any]) -> bool:
    """Plain or HTML text meant to be read as the message, not a file to save."""
    disposition = part["disposition"]
    return (
        part["type"] == "text"
        and part["subtype"] in ("plain", "html")
        and not (disposition and disposition[0] == "attachment")
        and not _filename(part)
    )


def _attachment(raw: bytes, part: dict[str, Any]) -> dict[str, Any]:
    disposition = part["disposition"]
    dtype = disposition[0] if disposition else None
    return {
        "part": part["part"],
        "filename": _filename(part) or "",
        "content_type": f"{part['type']}/{part['subtype']}",
        "size": _decoded_size(raw, part),
        "content_id": part["id"],
        # no disposition: an image referenced by Content-ID is shown in the HTML
        "inline": dtype == "inline" or (dtype is None and part["id"] is not None),
    }


def _decoded_size(raw: bytes, part: dict[str, Any]) -> int:
    """Size after transfer decoding; exact enough for display, without decoding anything."""
    start, length = part["body"]
    if part["encoding"] != "BASE64":
        return length
    breaks = raw.count(b"\n", start, start + length) + raw.count(b"\r", start, start + length)
    return max(0, length - breaks) * 3 // 4


def _intro(raw: bytes, texts: list[dict[str, Any]]) -> str:
    """The first ~200 characters of readable text: text/plain first, else HTML without tags.
    `texts` are the body text leaves in order."""
    ordered = [t for t in texts if t["subtype"] == "plain"] + [
        t for t in texts if t["subtype"] == "html"
    ]
    for part in ordered[:_INTRO_CANDIDATES]:
        is_html = part["subtype"] == "html"
        start, length = part["body"]
        prefix = min(length, _HTML_PREFIX if is_html else _PLAIN_PREFIX)
        data = _transfer_decode(raw[start : start + prefix], part["encoding"])
        text = decode_text(data, param(part["params"], "charset"), cut=prefix < length)
        if is_html:
            text = html_text(text)
        intro = collapsed_prefix(text, INTRO_CHARS)
        if intro:
            return intro
    return ""


def collapsed_prefix(text: str, n: int) -> str:
    """``" ".join(text.split())[:n]`` without splitting all of ``text`` (every delivery
    builds an intro from up to 4 KB of body; splitting all of it cost more than the rest of
    the summary). The words of a prefix of ``text``, joined, are a prefix of all its words
    joined (the last one possibly cut short), so a long enough prefix gives the same answer."""
    k = n + 32  # enough for ordinary prose: one split of a short prefix
    while True:
        joined = " ".join(text[:k].split())
        if len(joined) >= n or k >= len(text):
            return joined[:n]
        k *= 4


def _transfer_decode(data: bytes, encoding: str) -> bytes:
    """Content-Transfer-Encoding of a body prefix; unknown encodings pass through."""
    if encoding == "BASE64":
        return decode_base64(data)
    if encoding == "QUOTED-PRINTABLE":
        return binascii.a2b_qp(data)
    return data


def html_text(markup: str) -> str:
    """Visible text of an HTML fragment: tags dropped, head/script/style skipped, entities
    resolved. Good enough for a preview line, not a renderer."""
    out: list[str] = []
    hidden: str | None = None
    pos = 0
    for m in _TAG.finditer(markup):
        name = (m.group(2) or "").lower()
        if hidden is None:
            out.append(markup[pos : m.start()])
            if not m.group(1) and name in _HIDDEN:
                hidden = name
            elif name not in _INLINE:
                out.append(" ")
        elif m.group(1) and name == hidden:
            hidden = None
        pos = m.end()
    if hidden is None:
        out.append(markup[pos:])
    return html.unescape("".join(out))
