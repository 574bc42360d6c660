"""A user's folder list (`folders.json`): names, ids, special-use, subscriptions.

Folder directories are named by id, so RENAME is a change of this one document and folder names
(any Unicode, `/` as hierarchy separator) never reach the filesystem. The document is small and
read freely; writers hold `folders.lock`.
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from rmail.store.errors import InvalidValue, UnsafeName

FOLDERS_VERSION = 1
SEPARATOR = "/"
INBOX = "INBOX"
MAX_NAME_BYTES = 1000
MAX_DEPTH = 32
SPECIAL_USES = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
DEFAULT_FOLDERS: tuple[tuple[str, str | None], ...] = (
    (INBOX, None), ("Drafts", "\\Drafts"), ("Sent", "\\Sent"), ("Trash", "\\Trash"),
    ("Junk", "\\Junk"), ("Archive", "\\Archive"))


@dataclass(frozen=True, slots=True)
class FolderEntry:
    """One line of the folder list. `folder_id` is None for a \\Noselect placeholder left when a
    folder with children was deleted (RFC 3501 §6.3.4)."""

    name: str
    folder_id: str | None
    special_use: str | None
    subscribed: bool

    @property
    def selectable(self) -> bool:
        return self.folder_id is not None


def canonical_name(name: str) -> str:
    """Validate a folder name and give INBOX its canonical case (RFC 3501 §5.1: INBOX is
    case-insensitive). Names are NFC-normalised so visually equal names are equal."""
    if not isinstance(name, str) or not name:
        raise UnsafeName("folder name is empty")
    name = unicodedata.normalize("NFC", name)
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise UnsafeName(f"folder name is longer than {MAX_NAME_BYTES} bytes")
    parts = name.split(SEPARATOR)
    if len(parts) > MAX_DEPTH:
        raise UnsafeName(f"folder name is nested deeper than {MAX_DEPTH} levels")
    for part in parts:
        if not part:
            raise UnsafeName(f"folder name {name!r} has an empty level")
        if part.strip() != part:
            raise UnsafeName(f"folder name {name!r} has a level with leading/trailing spaces")
        for ch in part:
            if unicodedata.category(ch) in ("Cc", "Cs", "Cf") and ch not in "\u200d":
                raise UnsafeName(f"folder name {name!r} contains a control character")
            if ch in "*%":
                raise UnsafeName(f"folder name {name!r} contains an IMAP wildcard")
    if parts[0].upper() == INBOX:
        parts[0] = INBOX
    return SEPARATOR.join(parts)


def parents_of(name: str) -> list[str]:
    """"a/b/c" -> ["a", "a/b"]."""
    parts = name.split(SEPARATOR)
    return [SEPARATOR.join(parts[:i]) for i in range(1, len(parts))]


def is_inside(name: str, ancestor: str) -> bool:
    return name.startswith(ancestor + SEPARATOR)


class FolderList:
    """The parsed document plus pure operations on it; `mailbox.UserMailbox` does the I/O."""

    def __init__(self, doc: dict[str, Any] | None = None) -> None:
        doc = doc or {}
        self.next_id: int = doc.get("next_id", 1)
        self.last_uidvalidity: int = doc.get("last_uidvalidity", 0)
        self.folders: dict[str, dict[str, Any]] = dict(doc.get("folders", {}))
        self.subscriptions: set[str] = set(doc.get("subscriptions", []))

    def to_doc(self) -> dict[str, Any]:
        return {"version": FOLDERS_VERSION, "next_id": self.next_id,
                "last_uidvalidity": self.last_uidvalidity, "folders": self.folders,
                "subscriptions": sorted(self.subscriptions)}

    def entries(self) -> list[FolderEntry]:
        out = [self.entry(name) for name in self.folders]
        out.sort(key=lambda e: (e.name != INBOX, e.name))
        return out

    def entry(self, name: str) -> FolderEntry:
        rec = self.folders[name]
        return FolderEntry(name, rec.get("id"), rec.get("special_use"),
                           name in self.subscriptions)

    def has_children(self, name: str) -> bool:
        return any(is_inside(other, name) for other in self.folders)

    def new_id(self) -> str:
        fid = str(self.next_id)
        self.next_id += 1
        return fid

    def new_uidvalidity(self) -> int:
        """Strictly increasing per user, so a deleted-and-recreated name never reuses one."""
        self.last_uidvalidity = max(int(time.time()), self.last_uidvalidity + 1)
        return self.last_uidvalidity

    def special_taken(self, use: str) -> bool:
        return any(rec.get("special_use") == use for rec in self.folders.values())


def check_special_use(use: str | None) -> str | None:
    if use is None:
        return None
    for known in SPECIAL_USES:
        if use.lower() == known.lower():
            return known
    raise InvalidValue(f"unknown special-use attribute {use!r}")
