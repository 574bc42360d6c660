"""Absolute URLs of one file-manager view: the owner's (`/webmail/drive/...`) or a visitor's
(`/webmail/drive/{uid}/{name}/...`). Paths given are relative to the view's root, so a page
never spells out the owner's folders above a share."""

from __future__ import annotations

from urllib.parse import quote

from rmail.web.webmail.urls import UrlBuilder

__all__ = ["OWNER_BASE", "Links", "public_base", "quote_rel"]

OWNER_BASE = "/webmail/drive"
_SAFE = "@:+-._~!$&'()*,;="


def quote_rel(rel: str) -> str:
    """`a/b c` -> `a/b%20c` (each segment quoted on its own)."""
    return "/".join(quote(p, safe=_SAFE) for p in rel.split("/") if p)


def public_base(uid: str, name: str) -> str:
    return f"{OWNER_BASE}/{uid}/{quote(name, safe=_SAFE)}"


class Links:
    """URLs below `base` on the request's origin."""

    def __init__(self, url: UrlBuilder, base: str = OWNER_BASE) -> None:
        self.url = url
        self.base = base

    def entry(self, rel: str = "", **query: object) -> str:
        """A folder (its grid) or a file (opened in place or downloaded)."""
        tail = quote_rel(rel)
        return self.url(f"{self.base}/{tail}" if tail else f"{self.base}/", **query)

    def action(self, name: str, rel: str = "", **query: object) -> str:
        """A form target: `_upload`, `_mkdir`, `_delete`, `_rename`, `_share`."""
        tail = quote_rel(rel)
        return self.url(f"{self.base}/{tail}/{name}" if tail else f"{self.base}/{name}",
                        **query)

    def download(self, rel: str) -> str:
        return self.entry(rel, download=1)

    def shared(self, **query: object) -> str:
        return self.url(f"{OWNER_BASE}/_shared", **query)

    def public_link(self, uid: str, name: str) -> str:
        """The link the manual gives visitors: `https://{host}:{port}/drive/{uid}/{name}`."""
        return self.url(f"/drive/{uid}/{quote(name, safe=_SAFE)}")
