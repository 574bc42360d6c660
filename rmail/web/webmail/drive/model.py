"""What a file-manager page shows, computed from the store's listing and nothing else: the
tiles of one page of a directory, the breadcrumb and the recursive totals. The owner's view
and a visitor's view of a share link use the same model; every path in it is relative to the
view's root (the drive root, or the shared folder), so a visitor's page never shows the owner's
layout above the share. Pure: no I/O, no URLs (templates build those).
"""

from __future__ import annotations

from dataclasses import dataclass

from rmail.store.drive import DirInfo, DrivePath, Entry
from rmail.web.webmail.drive.kinds import ICONS, inline_type, kind_of

__all__ = ["PAGE_SIZE", "Crumb", "Grid", "Permissions", "Tile", "grid", "tile"]

PAGE_SIZE = 200  # tiles per page: a 10,000-entry folder is 50 pages, each quick to draw


@dataclass(frozen=True)
class Permissions:
    """Which controls a page draws (the server refuses the rest anyway)."""

    create: bool = True      # new folder; PUT of new files
    upload: bool = True      # upload files / upload folder (multipart: U)
    delete: bool = True      # per-tile and bulk delete
    owner: bool = True       # rename, share links

    @classmethod
    def of_share(cls, letters: str) -> Permissions:
        return cls(create="C" in letters, upload="U" in letters, delete="D" in letters,
                   owner=False)


@dataclass(frozen=True)
class Tile:
    name: str
    rel: str                 # relative to the view's root: data-path, checkbox value
    type: str                # "dir" or "file"
    kind: str                # "dir" for folders, else kinds.KINDS
    icon: str
    size: int
    mtime: float
    content_type: str
    inline: bool             # a browser may open it in place
    thumb: bool              # an image small enough to show as its own thumbnail

    @property
    def is_dir(self) -> bool:
        return self.type == "dir"


@dataclass(frozen=True)
class Crumb:
    name: str
    rel: str                 # "" for the view's root


@dataclass(frozen=True)
class Grid:
    rel: str                 # the directory shown, relative to the view's root
    crumbs: tuple[Crumb, ...]
    tiles: tuple[Tile, ...]
    total_files: int         # recursive, from the directory index (O(1))
    total_dirs: int
    total_bytes: int
    count: int               # entries directly in this directory
    offset: int
    limit: int

    @property
    def prev_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None

    @property
    def next_offset(self) -> int | None:
        nxt = self.offset + self.limit
        return nxt if nxt < self.count else None


THUMB_MAX_BYTES = 8 * 1024 * 1024


def tile(entry: Entry, root: DrivePath) -> Tile:
    rel = str(entry.path.relative_to(root))
    if entry.is_dir:
        return Tile(entry.name, rel, "dir", "dir", ICONS["dir"], 0, entry.mtime, "", False,
                    False)
    kind = kind_of(entry.name, entry.content_type)
    shown = inline_type(entry.content_type)
    thumb = shown is not None and shown.startswith("image/") and \
        entry.size <= THUMB_MAX_BYTES
    return Tile(entry.name, rel, "file", kind, ICONS[kind], entry.size, entry.mtime,
                entry.content_type, shown is not None, thumb)


def grid(info: DirInfo, root: DrivePath, *, root_name: str, offset: int,
         limit: int = PAGE_SIZE) -> Grid:
    """The model of one page of `info` (listed with the same `offset`/`limit`)."""
    here = info.entry.path.relative_to(root)
    crumbs = [Crumb(root_name, "")]
    for i in range(1, here.depth + 1):
        crumbs.append(Crumb(here.parts[i - 1], "/".join(here.parts[:i])))
    c = info.counters
    return Grid(str(here), tuple(crumbs), tuple(tile(e, root) for e in info.children),
                c["total_files"], c["total_dirs"], c["total_bytes"],
                c["self_files"] + c["self_dirs"], offset, limit)
