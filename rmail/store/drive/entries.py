"""What the drive hands out: entries, directory listings, quotas, and the record format of a
child in its parent's `_index.json` (`{"type": "file", "size", "etag", "mtime",
"content_type", "created"[, "props"]}` or `{"type": "dir", "mtime", "created"[, "props"]}`)."""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rmail.store.drive.paths import DrivePath
from rmail.store.errors import CorruptStore

__all__ = ["COUNTERS", "DIR", "FILE", "DirInfo", "Entry", "Quota", "entry_of", "etag_of_digest",
           "guess_type"]

FILE = "file"
DIR = "dir"
COUNTERS = ("self_files", "self_dirs", "self_bytes", "total_files", "total_dirs",
            "total_bytes")


def etag_of_digest(hexdigest: str) -> str:
    """The quoted strong ETag for a SHA-256 hex digest: the first 32 hex digits."""
    return f'"{hexdigest[:32]}"'


@dataclass(frozen=True)
class Entry:
    """One file or directory as its parent's index describes it."""

    path: DrivePath
    kind: str
    mtime: float
    created: float
    size: int = 0
    etag: str = ""
    content_type: str = ""
    props: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_dir(self) -> bool:
        return self.kind == DIR

    @property
    def name(self) -> str:
        return self.path.name

    def public(self) -> dict[str, Any]:
        """The JSON shape shown to clients (no dead properties)."""
        doc: dict[str, Any] = {"name": self.name, "path": str(self.path), "type": self.kind,
                               "mtime": self.mtime}
        if self.kind == FILE:
            doc.update(size=self.size, etag=self.etag, content_type=self.content_type)
        return doc


@dataclass(frozen=True)
class DirInfo:
    """A directory's own index: its counters and its children (directories first, by name)."""

    entry: Entry
    ctag: int
    counters: Mapping[str, int]
    children: tuple[Entry, ...]

    def public(self) -> dict[str, Any]:
        doc = self.entry.public()
        doc["ctag"] = self.ctag
        doc.update(self.counters)
        doc["children"] = [c.public() for c in self.children]
        return doc


@dataclass(frozen=True)
class Quota:
    """A user's limit and what other stores (mail) already use of it."""

    limit_bytes: int
    other_bytes: int = 0


def entry_of(path: DrivePath, rec: Mapping[str, Any]) -> Entry:
    """The `Entry` for a child record of a directory index."""
    kind = rec.get("type")
    if kind not in (FILE, DIR):
        raise CorruptStore(f"drive entry {path} has type {kind!r}")
    mtime = float(rec.get("mtime", 0.0))
    return Entry(path, kind, mtime, float(rec.get("created", mtime)),
                 int(rec.get("size", 0)), str(rec.get("etag", "")),
                 str(rec.get("content_type", "")), dict(rec.get("props") or {}))


def sort_key(e: Entry) -> tuple[int, str]:
    return (0 if e.is_dir else 1, e.name)


def guess_type(name: str, offered: str | None = None) -> str:
    """The client's Content-Type unless it is a generic one, else a guess from the name."""
    if offered:
        base = offered.split(";", 1)[0].strip().lower()
        if base and base not in ("application/octet-stream",
                                 "application/x-www-form-urlencoded") \
                and not base.startswith("multipart/") and "/" in base:
            return offered.strip()[:255]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"
