"""What the search index holds of a message: its addresses, subject and readable text (body
parts decoded from any transfer encoding and charset, HTML without its markup, and text
attachments), folded for the index (`searchquery.fold_text`). Pure: bytes and the stored
parse in, strings out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rmail.mail import render
from rmail.mail.searchquery import fold_text
from rmail.mail.summary import html_text

__all__ = ["IndexText", "index_text"]

MAX_BODY_CHARS = 256 * 1024  # per message: the rest of a huge message is not searchable
MAX_ATTACHMENT_BYTES = 1024 * 1024  # text attachments read per message


@dataclass(frozen=True, slots=True)
class IndexText:
    sender: str
    recipients: str
    subject: str
    body: str


def _addresses(items: Any) -> str:
    if isinstance(items, dict):
        items = [items]
    out = []
    for a in items or []:
        if isinstance(a, dict):
            out.append(f"{a.get('name') or ''} {a.get('address') or ''}")
    return " ".join(out)


def index_text(raw: bytes, meta: dict[str, Any]) -> IndexText:
    summary = meta.get("summary") or {}
    chunks: list[str] = []
    size = 0
    for part in render.choose_body(meta["body"], prefer="plain"):
        text = render.part_text(raw, part)
        if part.get("subtype") == "html":
            text = html_text(text)
        chunks.append(text)
        size += len(text)
        if size > MAX_BODY_CHARS:
            break
    budget = MAX_ATTACHMENT_BYTES
    for a in summary.get("attachments") or []:
        if size > MAX_BODY_CHARS or budget <= 0:
            break
        if not (a.get("content_type") or "").startswith("text/"):
            continue
        try:
            part = render.find_part(meta, a["part"])
        except Exception:  # a damaged structure: the attachment is not searchable
            continue
        text = render.part_text(raw, part)[:budget]
        budget -= len(text)
        if part.get("subtype") == "html":
            text = html_text(text)
        chunks.append(a.get("filename") or "")
        chunks.append(text)
        size += len(text)
    body = "\n".join(chunks)[:MAX_BODY_CHARS]
    return IndexText(
        sender=fold_text(_addresses(summary.get("from"))),
        recipients=fold_text(_addresses(summary.get("to")) + " " + _addresses(summary.get("cc"))),
        subject=fold_text(summary.get("subject") or ""),
        body=fold_text(body),
    )
