"""Message bodies for display: pure functions from stored bytes and parsed structure to safe
HTML (no I/O, tested on bytes alone), shared by the webmail and the JSON API.

- Plain text is escaped and its http(s) URLs made links.
- HTML goes through nh3 (a maintained sanitiser, Rust's ammonia): no scripts, event handlers,
  forms, frames, `<base>`, `<meta>`, `javascript:`/`data:` URLs or SVG; `cid:` images point at
  the message's own parts; remote images (`src`, `background`, `srcset`) are dropped unless
  the user asked for them. The result is served as its own document (`frame_csp`) inside a
  sandboxed frame, whose CSP blocks every remote load the sanitiser might have let through
  (CSS `url()`, for one) until the user asks.
"""

from __future__ import annotations

import binascii
import functools
import html
import quopri
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rmail.mail.headers import decode_text, param
from rmail.store.errors import NotFound

__all__ = ["Body", "choose_body", "find_part", "frame_csp", "linkify", "part_bytes",
           "sanitize_html", "walk"]

_URL = re.compile(r"\bhttps?://[^\s<>\"'()]+[^\s<>\"'().,;:!?]", re.IGNORECASE)
_CHARSET_MAX = 64

EXTRA_TAGS = {"font", "center", "style", "big", "small", "u", "s"}


@functools.cache
def _tags() -> frozenset[str]:
    """nh3's allowed tags and ours. nh3 is imported at the first sanitising, not with this
    module, which the search index loads in every process (about 1.4 MB resident)."""
    import nh3

    return frozenset(nh3.ALLOWED_TAGS) | EXTRA_TAGS


ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "class", "dir", "lang", "title", "align", "valign", "width", "height",
          "bgcolor", "color", "border"},
    "a": {"href", "name"},
    "img": {"src", "alt"},
    "font": {"face", "size"},
    "table": {"cellpadding", "cellspacing", "background"},
    "td": {"colspan", "rowspan", "background", "nowrap"},
    "th": {"colspan", "rowspan", "background", "nowrap"},
    "col": {"span"},
    "ol": {"start", "type"},
    "li": {"value"},
}


@dataclass
class Body:
    """What the detail page shows: escaped text or sanitised HTML, and what was held back."""

    kind: str                    # "text" or "html"
    content: str                 # safe to emit as is
    blocked_remote: int = 0      # remote resources left out (offer "show remote images")
    parts: list[str] = field(default_factory=list)


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every part, depth first, not descending into attached messages."""
    stack = [node]
    while stack:
        part = stack.pop()
        yield part
        if "parts" in part:
            stack.extend(reversed(part["parts"]))


def find_part(meta: dict[str, Any], number: str) -> dict[str, Any]:
    for part in walk(meta["body"]):
        if part.get("part") == number and "parts" not in part:
            return part
    raise NotFound("no such part")


def _filename(part: dict[str, Any]) -> str | None:
    disp = part.get("disposition")
    return param(disp[1] if disp else None, "filename") or param(part.get("params"), "name")


def _is_body_text(part: dict[str, Any]) -> bool:
    disp = part.get("disposition")
    return (part.get("type") == "text" and part.get("subtype") in ("plain", "html")
            and not (disp and disp[0] == "attachment") and not _filename(part))


def choose_body(root: dict[str, Any], *, prefer: str = "html") -> list[dict[str, Any]]:
    """The parts to show as the message: in a multipart/alternative the `prefer`red version
    (HTML to read, plain to quote), else the text parts in order (multipart/mixed with several
    inline texts shows them all)."""
    chosen: list[dict[str, Any]] = []

    def visit(node: dict[str, Any]) -> None:
        if "parts" in node:
            if node.get("subtype") == "alternative":
                options = [p for p in node["parts"] if _renderable(p)]
                if options:
                    want_html = prefer == "html"
                    best = next((p for p in reversed(options) if _has_html(p) == want_html),
                                options[-1])
                    visit(best)
                return
            for child in node["parts"]:
                visit(child)
        elif _is_body_text(node):
            chosen.append(node)

    visit(root)
    return chosen


def _renderable(node: dict[str, Any]) -> bool:
    return any(_is_body_text(p) for p in walk(node) if "parts" not in p)


def _has_html(node: dict[str, Any]) -> bool:
    return any(p.get("subtype") == "html" and _is_body_text(p) for p in walk(node))


def part_bytes(raw: bytes, part: dict[str, Any]) -> bytes:
    """A leaf's content with its transfer encoding undone."""
    start, length = part["body"]
    data = raw[start:start + length]
    encoding = (part.get("encoding") or "7BIT").upper()
    if encoding == "BASE64":
        cleaned = re.sub(rb"[^A-Za-z0-9+/=]", b"", data)
        cleaned = cleaned.split(b"=", 1)[0]
        cleaned += b"=" * (-len(cleaned) % 4)
        try:
            return binascii.a2b_base64(cleaned)
        except (binascii.Error, ValueError):
            return b""
    if encoding == "QUOTED-PRINTABLE":
        return quopri.decodestring(data)
    return data


def part_text(raw: bytes, part: dict[str, Any]) -> str:
    charset = (param(part.get("params"), "charset") or "")[:_CHARSET_MAX]
    return decode_text(part_bytes(raw, part), charset)


def linkify(text: str) -> str:
    """Escaped text with http(s) URLs as links that open outside the page."""
    out: list[str] = []
    last = 0
    for m in _URL.finditer(text):
        out.append(html.escape(text[last:m.start()]))
        url = html.escape(m.group(0))
        out.append(f'<a href="{url}" rel="noopener noreferrer nofollow" target="_blank">'
                   f"{url}</a>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


_REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
_ATTR_REMOTE = re.compile(r"""\s*=\s*["']?\s*(?:https?:)?//""")
_URL_REMOTE = re.compile(r"""\s*["']?\s*(?:https?:)?//""")
_REMOTE_WORDS = (("src", _ATTR_REMOTE), ("srcset", _ATTR_REMOTE), ("background", _ATTR_REMOTE),
                 ("poster", _ATTR_REMOTE), ("url(", _URL_REMOTE))


def has_remote(markup: str) -> bool:
    """Whether the markup asks for any remote resource (src, srcset, background, poster, CSS
    url()): finds each keyword and tries one anchored match after it, stopping at the first
    hit (a regex over a whole 1 MB message would cost a hundred times more)."""
    low = markup.lower()
    for word, after in _REMOTE_WORDS:
        pos = low.find(word)
        while pos != -1:
            if after.match(low, pos + len(word)):
                return True
            pos = low.find(word, pos + len(word))
    return False


def sanitize_html(markup: str, *, cid_url: Callable[[str], str | None],
                  allow_remote: bool) -> tuple[str, int]:
    """(safe HTML, remote resources dropped). `cid_url` maps a Content-ID to the URL of the
    message's own part (None: unknown, dropped)."""
    blocked = 0

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        nonlocal blocked
        if attr in ("src", "background"):
            if value.strip().lower().startswith("cid:"):
                return cid_url(value.strip()[4:].strip("<>"))
            if _REMOTE.match(value):
                if allow_remote:
                    return value
                blocked += 1
                return None
            if tag == "img" or attr == "background":
                return None  # relative or other schemes: nothing of ours to load
        return value

    import nh3

    cleaned = nh3.clean(
        markup,
        tags=_tags(),
        clean_content_tags={"script", "title", "template", "noscript", "textarea", "select",
                            "iframe", "object", "embed", "svg", "math", "frameset"},
        attributes=ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes={"http", "https", "mailto", "cid", "tel"},
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    return cleaned, blocked


def strip_tags(markup: str) -> str:
    """Readable text of sanitised HTML (for quoting and for attached messages)."""
    text = re.sub(r"(?is)<(style|head)[^>]*>.*?</\1>", "", markup)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>|</h[1-6]>|</li>", "\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _clean_for_text(part: dict[str, Any], text: str) -> str:
    return sanitize_html(text, cid_url=lambda c: None, allow_remote=False)[0]


def readable_text(raw: bytes, body: dict[str, Any], *, prefer: str = "plain",
                  clean: Callable[[dict[str, Any], str], str] = _clean_for_text) -> str:
    """The message as plain text: its text parts, HTML ones with the markup taken out.
    `clean(part, markup)` sanitises an HTML part (a caller that has already sanitised it
    passes its result on instead of paying for nh3 twice)."""
    chunks = []
    for p in choose_body(body, prefer=prefer):
        text = part_text(raw, p)
        if p.get("subtype") == "html":
            text = strip_tags(clean(p, text))
        chunks.append(text.strip("\r\n"))  # the trailing line end of a CRLF body too
    return "\n\n".join(chunks)


def frame_csp(origin: str, *, allow_remote: bool) -> str:
    """The policy of a sanitised body document: no script at all, images only from the
    message's own parts (and anywhere once the user asked), styles inline only, framed only
    by our pages, sandboxed (links may open new tabs)."""
    images = f"{origin} data:" + (" https: http:" if allow_remote else "")
    return (f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; "
            "font-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
            "sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox")


def html_document(body: str) -> str:
    """A complete document around sanitised HTML (the frame's content)."""
    return ('<!DOCTYPE html><html><head><meta charset="utf-8">'
            '<meta name="referrer" content="no-referrer">'
            "<style>body{margin:0;padding:12px;font:15px/1.5 system-ui,sans-serif;"
            "color:#1d2430;background:#fff;word-wrap:break-word;overflow-wrap:anywhere}"
            "img{max-width:100%;height:auto}table{max-width:100%}</style></head><body>"
            f"{body}</body></html>")
