"""A user's changes since a position, read from the durable folder indexes: what the live
update stream (`GET /users/{user}/updates`) sends and resumes from.

A `Position` holds, per folder, its UIDVALIDITY, the highest modseq seen, the first UID not
yet announced and a short hash of its name. `changes_since` compares a position with the
folders now and yields events in modseq order, one committed change (one modseq) at a time,
each with the position after it: new messages (EXISTS), flag changes (FLAGS), removals
(EXPUNGE, from the index's tombstones), and folders created, renamed or deleted. When the
tombstones no longer reach back to the position, the folder's answer is RESYNC.

Nothing here is kept in memory between calls, so a position written down before a restart,
or made by another worker, resumes exactly: events are derived from the index, the bus only
says when to look (`hint`). Within one change a resumed stream may see the change again
(every event but the last of a change carries the position before it): repeats, never gaps.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from rmail.store.errors import NotFound
from rmail.store.events import Change
from rmail.store.journal import FolderIndex
from rmail.store.mailbox import Folder, UserMailbox

__all__ = ["Event", "Position", "changes_since", "current_position"]

VERSION = 1
MAX_ENCODED = 16 * 1024


@dataclass(frozen=True, slots=True)
class FolderMark:
    uidvalidity: int
    modseq: int
    uidnext: int   # first UID not yet announced by EXISTS
    name: str      # short hash of the folder's name (a RENAME changes it)


@dataclass(frozen=True)
class Position:
    folders: dict[str, FolderMark] = field(default_factory=dict)  # folder id -> mark

    def encode(self) -> str:
        """The opaque form (an SSE `id:`)."""
        return self._encoded

    @functools.cached_property
    def _encoded(self) -> str:
        """Kept once made: the update streams of an account share one position after a
        change and each encodes it (`folders` is never changed in place: `with_folder`
        makes a new position)."""
        data = [VERSION, {fid: [m.uidvalidity, m.modseq, m.uidnext, m.name]
                          for fid, m in sorted(self.folders.items())}]
        return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")

    @classmethod
    def decode(cls, raw: str) -> Position | None:
        """None for anything that is not a position this module wrote."""
        if not raw or len(raw) > MAX_ENCODED:
            return None
        try:
            version, folders = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            if version != VERSION or not isinstance(folders, dict):
                return None
            marks = {}
            for fid, (uidvalidity, modseq, uidnext, name) in folders.items():
                if not (isinstance(fid, str) and len(fid) <= 64 and isinstance(name, str)
                        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                for v in (uidvalidity, modseq, uidnext))):
                    return None
                marks[fid] = FolderMark(uidvalidity, modseq, uidnext, name[:16])
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
            return None
        return cls(marks)

    def with_folder(self, fid: str, mark: FolderMark | None) -> Position:
        folders = dict(self.folders)
        if mark is None:
            folders.pop(fid, None)
        else:
            folders[fid] = mark
        return Position(folders)


@dataclass(frozen=True, slots=True)
class Event:
    data: dict[str, Any] | None  # None: only the position moves (nothing to tell)
    position: Position  # where a stream stands once this event is delivered


def _name_hash(name: str) -> str:
    return hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=4).hexdigest()


def _mark(folder: Folder) -> FolderMark:
    status = folder.status()
    return FolderMark(status.uidvalidity, status.highestmodseq, status.uidnext,
                      _name_hash(folder.name))


def _folders(mailbox: UserMailbox) -> dict[str, Folder]:
    out = {}
    for entry in mailbox.entries():
        if entry.folder_id is None:
            continue
        try:
            out[entry.folder_id] = mailbox.folder(entry.name)
        except NotFound:
            continue
    return out


def current_position(mailbox: UserMailbox) -> Position:
    return Position({fid: _mark(f) for fid, f in _folders(mailbox).items()})


def changes_since(mailbox: UserMailbox, position: Position,
                  hint: Change | None = None) -> Iterator[Event]:
    """Every change after `position`, oldest first; the last event's position is current.
    `hint` (the change the bus announced) lets a folder that moved by exactly that change
    skip the scan of its index."""
    folders = _folders(mailbox)
    pos = position
    for fid, gone in sorted(position.folders.items()):
        if fid not in folders:
            pos = pos.with_folder(fid, None)
            mid = Folder.make_mailbox_id(mailbox.domain, mailbox.username, fid,
                                         gone.uidvalidity)
            yield Event({"command": "DELETE", "mailbox": mid}, pos)
    for fid, folder in sorted(folders.items()):
        mark = position.folders.get(fid)
        try:
            now = _mark(folder)
        except NotFound:  # deleted while we looked: the next call reports it
            continue
        mid = folder.mailbox_id()
        if mark is None or mark.uidvalidity != now.uidvalidity:
            if mark is not None:
                pos = pos.with_folder(fid, None)
                yield Event({"command": "DELETE", "mailbox": Folder.make_mailbox_id(
                    mailbox.domain, mailbox.username, fid, mark.uidvalidity)}, pos)
            pos = pos.with_folder(fid, now)
            yield Event({"command": "CREATE", "mailbox": mid, "path": folder.name}, pos)
            continue
        if mark.name != now.name:
            mark = FolderMark(mark.uidvalidity, mark.modseq, mark.uidnext, now.name)
            pos = pos.with_folder(fid, mark)
            yield Event({"command": "RENAME", "mailbox": mid, "path": folder.name}, pos)
        if mark.modseq >= now.modseq:
            continue
        for event in _folder_changes(folder, mid, mark, hint):
            pos = pos.with_folder(fid, event[1])
            yield Event(event[0], pos)


def _folder_changes(folder: Folder, mid: str, mark: FolderMark, hint: Change | None
                    ) -> Iterator[tuple[dict[str, Any] | None, FolderMark]]:
    """(event, the folder's mark after it) for one folder, by modseq."""

    def read(idx: FolderIndex) -> tuple[list[tuple[int, int, str, tuple[str, ...]]] | None,
                                        int]:
        rows: list[tuple[int, int, str, tuple[str, ...]]] = []
        fast = (hint is not None and hint.folder_id == folder.id
                and hint.modseq == idx.highestmodseq == mark.modseq + 1)
        if fast and hint is not None and hint.kind == "expunge":
            rows = [(hint.modseq, u, "EXPUNGE", ()) for u in hint.uids]
        elif fast and hint is not None and hint.kind in ("append", "flags"):
            for u in hint.uids:
                i = idx.position(u)
                if i is not None:
                    rows.append((idx.modseqs[i], u, "", tuple(sorted(idx.flags_of(i)))))
        else:
            if mark.modseq < idx.vanished_floor:
                return None, idx.uidnext
            rows = [(idx.modseqs[i], idx.uids[i], "", tuple(sorted(idx.flags_of(i))))
                    for i in range(len(idx)) if idx.modseqs[i] > mark.modseq]
            rows += [(m, u, "EXPUNGE", ()) for u, m in zip(idx.tomb_uids, idx.tomb_modseqs,
                                                           strict=True) if m > mark.modseq]
        return rows, idx.uidnext

    rows, uidnext = folder.read_index(read)
    if rows is None:  # tombstones that old are gone
        status = folder.status()
        yield ({"command": "RESYNC", "mailbox": mid},
               FolderMark(mark.uidvalidity, status.highestmodseq, uidnext, mark.name))
        return
    rows.sort()
    # UIDs above the position not yet told (new ones, and ones that came and went)
    pending = sorted(u for _, u, _, _ in rows if u >= mark.uidnext)
    announced: set[int] = set()
    first = 0  # index in `pending` of the lowest UID not announced yet
    before = mark
    i = 0
    while i < len(rows):
        modseq = rows[i][0]
        group = []
        while i < len(rows) and rows[i][0] == modseq:
            group.append(rows[i])
            i += 1
        announced.update(u for _, u, _, _ in group if u >= mark.uidnext)
        while first < len(pending) and pending[first] in announced:
            first += 1
        # a UID at or above the lowest one not yet announced is still new on resume
        after = FolderMark(mark.uidvalidity, modseq,
                           pending[first] if first < len(pending) else max(uidnext,
                                                                           mark.uidnext),
                           mark.name)
        # a message that came and went while the client was away was never told: skip it
        # (a change of nothing else still moves the position: an event without data)
        group = [row for row in group if not (row[2] and row[1] >= mark.uidnext)]
        if not group:
            yield None, after
        for n, (_, uid, kind, flags) in enumerate(group):
            command = kind or ("EXISTS" if uid >= mark.uidnext else "FLAGS")
            data: dict[str, Any] = {"command": command, "mailbox": mid, "message": uid,
                                    "uid": uid, "modseq": modseq}
            if command != "EXPUNGE":
                data["flags"] = list(flags)
            yield data, (after if n == len(group) - 1 else before)
        before = after
