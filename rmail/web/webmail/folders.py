"""The folder tree of the sidebar, with counts, and folder names from URLs."""

from __future__ import annotations

import contextlib
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rmail.store.errors import NotFound
from rmail.store.folders import SEPARATOR, canonical_name
from rmail.store.mailbox import UserMailbox
from rmail.web.errors import HttpError

if TYPE_CHECKING:
    from rmail.web.webmail.context import Page

__all__ = ["FolderView", "folder_from_url", "sidebar", "sidebar_sync"]

# Special folders first, in the order mail clients show them; then the user's, by name.
_RANK = {"\\Drafts": 1, "\\Sent": 2, "\\Archive": 3, "\\Junk": 4, "\\Trash": 5}
MAX_DEPTH_CLASS = 6


@dataclass(frozen=True, slots=True)
class FolderView:
    name: str            # full name, levels separated by "/"
    label: str           # the last level
    depth: int
    total: int
    unread: int
    special_use: str | None
    selectable: bool
    subscribed: bool

    @property
    def depth_class(self) -> str:
        return f"depth-{min(self.depth, MAX_DEPTH_CLASS)}"


def sidebar_sync(mailbox: UserMailbox) -> list[FolderView]:
    """Every folder, INBOX first then by name (children after their parent), with counts."""
    out = []
    for entry in mailbox.entries():
        total = unread = 0
        if entry.selectable:
            try:
                status = mailbox.folder(entry.name).status()
            except NotFound:  # deleted while we listed
                continue
            total, unread = status.count, status.unseen
        levels = entry.name.split(SEPARATOR)
        out.append(FolderView(entry.name, levels[-1], len(levels) - 1, total, unread,
                              entry.special_use, entry.selectable, entry.subscribed))
    top_use = {v.name: v.special_use for v in out if v.depth == 0}

    def order(v: FolderView) -> tuple[int, list[str]]:
        levels = v.name.split(SEPARATOR)  # by levels, so children follow their parent
        rank = 0 if levels[0] == "INBOX" else _RANK.get(top_use.get(levels[0]) or "", 9)
        return rank, [level.casefold() for level in levels]

    return sorted(out, key=order)


async def sidebar(page: Page) -> list[FolderView]:
    return await page.run(sidebar_sync, page.mailbox)


def folder_from_url(raw: str) -> str:
    """A folder name from the router (already percent-decoded): `/` separates levels; empty,
    `.` and `..` levels are refused."""
    name = unicodedata.normalize("NFC", raw.strip("/"))
    if not name or len(name) > 1000:
        raise HttpError(404, "No such folder")
    for part in name.split(SEPARATOR):
        if part in ("", ".", ".."):
            raise HttpError(404, "No such folder")
    with contextlib.suppress(ValueError):
        return canonical_name(name)
    raise HttpError(404, "No such folder")
