"""Everything a reader of one stored message needs that costs real work to derive from its
bytes: the shown parts as sanitised HTML, the readable text, the decoded header list and the
attachment list with decoded sizes. Pure: message bytes and the stored parse in, a
`Rendered` out (plain data, saved as JSON by `rmail.store.rendercache`), tested on bytes.

Both the JSON API (`GET .../messages/{id}`) and the webmail's body frame use it, so the
expensive step (nh3 over a large HTML body, about 0.2 s for 1 MB here) runs once per message
and variant. Nothing in it depends on who asks or from where: `cid:` references are kept as
placeholders (`cid:{nonce}x{index:05d}`, the nonce random per rendering so that no message
can spell one) that `Rendered.html` turns into the caller's attachment URLs. The one real
variant is remote content: kept (`allow_remote`, what the API and the webmail's "show remote
images" serve) or dropped (the webmail's default).

`renderer()` names the sanitiser's rules and library: saved renderings made under another one
are ignored and made again, so a change of rules never serves stale HTML. Bump
`RENDER_VERSION` whenever this module or `rmail.mail.render` changes what they produce.
"""

from __future__ import annotations

import functools
import html as html_lib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rmail.mail import message_json, render

__all__ = ["RENDER_VERSION", "Rendered", "render_message", "renderer"]

RENDER_VERSION = 2  # 2: header values decode raw UTF-8 (RFC 6532)


@functools.cache
def renderer() -> str:
    """The renderer's name, e.g. ``2/nh3-0.2.18``. Asked on first use: the package metadata
    lookup imports `importlib.metadata` and `zipfile` (about 0.75 MB per process), which a
    process that never renders a message does not need."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        nh3 = version("nh3")
    except PackageNotFoundError:  # pragma: no cover - nh3 is a dependency
        nh3 = "unknown"
    return f"{RENDER_VERSION}/nh3-{nh3}"
_NONCE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Rendered:
    """One message, rendered. `parts` are safe HTML strings (plain parts escaped, linked and
    wrapped in `<pre>`) holding `cid:` placeholders; `blocked` counts remote resources
    dropped (0 when they were kept)."""

    nonce: str
    parts: tuple[str, ...]
    cids: tuple[int, ...]           # attachment indexes some placeholder names
    text: str
    blocked: int
    headers: tuple[dict[str, str], ...]
    attachments: tuple[dict[str, Any], ...]
    allow_remote: bool

    def html(self, url_of: Callable[[int], str]) -> list[str]:
        """The parts with every `cid:` placeholder replaced by `url_of(attachment index)`."""
        if not self.cids:
            return list(self.parts)
        urls = {i: html_lib.escape(url_of(i), quote=True) for i in self.cids}
        pattern = re.compile(f"cid:{self.nonce}x([0-9]{{5}})")

        def swap(m: re.Match[str]) -> str:
            return urls.get(int(m.group(1)), "")

        return [pattern.sub(swap, part) for part in self.parts]

    def to_doc(self) -> dict[str, Any]:
        return {"nonce": self.nonce, "parts": list(self.parts), "cids": list(self.cids),
                "text": self.text, "blocked": self.blocked, "headers": list(self.headers),
                "attachments": list(self.attachments), "allowRemote": self.allow_remote}

    @classmethod
    def from_doc(cls, doc: Any) -> Rendered:
        """Checked on the way in (a saved rendering is a file anyone with disk access could
        have damaged): ValueError for anything not in the shape `to_doc` writes."""
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        nonce, parts, cids = doc.get("nonce"), doc.get("parts"), doc.get("cids")
        text, blocked, headers = doc.get("text"), doc.get("blocked"), doc.get("headers")
        attachments, remote = doc.get("attachments"), doc.get("allowRemote")
        if not (isinstance(nonce, str) and _NONCE.fullmatch(nonce)
                and isinstance(parts, list) and all(isinstance(p, str) for p in parts)
                and isinstance(cids, list)
                and all(type(i) is int and 0 <= i < 100_000 for i in cids)
                and isinstance(text, str) and type(blocked) is int
                and isinstance(headers, list) and all(isinstance(h, dict) for h in headers)
                and isinstance(attachments, list)
                and all(isinstance(a, dict) for a in attachments)
                and isinstance(remote, bool)):
            raise ValueError("not a rendering")
        return cls(nonce, tuple(parts), tuple(cids), text, blocked, tuple(headers),
                   tuple(attachments), remote)


def render_message(raw: bytes, meta: dict[str, Any], *, allow_remote: bool) -> Rendered:
    """Render a stored message (its bytes and `rmail.mail.parse` result). Each HTML part is
    sanitised once: the readable text of an HTML-only message is taken from the same
    sanitised markup (the remote choice and `cid:` links only touch attributes, which the
    text leaves out)."""
    nonce = secrets.token_hex(16)
    cid_index: dict[str, int] = {}
    for i, a in enumerate((meta.get("summary") or {}).get("attachments") or []):
        cid = (a.get("content_id") or "").strip().strip("<>")
        if cid:
            cid_index.setdefault(cid, i)
    used: set[int] = set()

    def cid_url(cid: str) -> str | None:
        index = cid_index.get(cid)
        if index is None:
            return None
        used.add(index)
        return f"cid:{nonce}x{index:05d}"

    blocked = 0
    sanitised: dict[str, str] = {}

    def clean(part: dict[str, Any], text: str) -> str:
        nonlocal blocked
        key = str(part.get("part"))
        if key not in sanitised:
            sanitised[key], dropped = render.sanitize_html(text, cid_url=cid_url,
                                                           allow_remote=allow_remote)
            blocked += dropped
        return sanitised[key]

    parts = []
    for part in render.choose_body(meta["body"], prefer="html"):
        text = render.part_text(raw, part)
        if part.get("subtype") == "html":
            parts.append(clean(part, text))
        else:
            parts.append("<pre>" + render.linkify(text) + "</pre>")
    text = render.readable_text(raw, meta["body"], prefer="plain", clean=clean)
    return Rendered(
        nonce=nonce, parts=tuple(parts), cids=tuple(sorted(used)), text=text,
        blocked=blocked,
        headers=tuple(message_json.header_list(raw[:message_json.HEADER_BYTES])),
        attachments=tuple(message_json.attachments(raw, meta)), allow_remote=allow_remote)
