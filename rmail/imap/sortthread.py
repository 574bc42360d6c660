"""SORT and THREAD (RFC 5256, DISPLAYFROM/DISPLAYTO from RFC 5957).

Keys come from the folder's header cache (`Folder.header_records`, computed from the
delivery-time parse), never from the messages. Pure functions over `Info` records, so the
algorithms are tested without a store.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rmail.imap.threadindex import build
from rmail.mail.headerkeys import (
    F_BASE,
    F_REFERENCES,
    F_REPLY,
    F_SENT,
    F_THREAD_ID,
    SORT_SLOTS,
)

if TYPE_CHECKING:
    from rmail.store.mailbox import Folder

Record = list[Any]


@dataclass
class Info:
    """What SORT and THREAD need of one message; `num` is what the response shows."""

    num: int
    seq: int
    arrival: int
    size: int
    sent: float
    subject: str  # base subject (RFC 5256 §2.1), upper-cased for i;ascii-casemap
    reply: bool  # the subject had a reply/forward leader
    message_id: str | None
    references: list[str]
    addr: dict[str, str] = field(default_factory=dict)  # FROM, TO, CC, DISPLAYFROM, DISPLAYTO


def info_from_record(num: int, seq: int, arrival: int, size: int, rec: Record | None
                     ) -> Info:
    """The Info of one message from its header-cache record (None: nothing known but the
    index columns)."""
    if rec is None:
        return Info(num, seq, arrival, size, arrival, "", False, None, [], {})
    sent = rec[F_SENT]
    addr = {key: rec[slot] for key, slot in SORT_SLOTS.items()}
    return Info(num, seq, arrival, size, arrival if sent is None else sent, rec[F_BASE],
                rec[F_REPLY], rec[F_THREAD_ID], rec[F_REFERENCES], addr)


# -- remembered answers ---------------------------------------------------------------------
class ResultMemo:
    """The last few SORT and THREAD answers, keyed by folder, keys or algorithm, and the
    exact numbers and UIDs in the answer (a digest of them): a message's header never changes
    under its UID, so the same input gives the same answer, and any append, expunge or other
    criteria make a new key. Bounded: `size` answers in all, for the whole process."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(folder: Folder, what: str, uids: bytes, seqs: bytes) -> bytes:
        """`uids`: the answer's UIDs (array('q') bytes); `seqs`: its sequence numbers the same
        way, b"" for a UID command, b"ALL" for 1..n. The folder is named by its directory
        (unique across users) and UIDVALIDITY (a folder made again under the same directory
        has other messages under the same UIDs)."""
        where = f"{folder.layout.dir}\0{folder.index().uidvalidity}\0{what}\0"
        h = hashlib.blake2b(where.encode("utf-8", "surrogateescape"), digest_size=32)
        h.update(b"%d\0" % len(uids))
        h.update(uids)
        h.update(seqs)
        return h.digest()

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            out = self._items.get(key)
            if out is not None:
                self._items.move_to_end(key)
            return out

    def put(self, key: bytes, value: bytes) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


RESULT_MEMO = ResultMemo()


# -- THREAD -----------------------------------------------------------------------------------
class _Node:
    __slots__ = ("children", "info", "parent")

    def __init__(self, info: Info | None = None) -> None:
        self.info = info
        self.parent: _Node | None = None
        self.children: list[_Node] = []

    def adopt(self, child: _Node) -> None:
        if child.parent is not None:
            child.parent.children.remove(child)
        child.parent = self
        self.children.append(child)

    def date(self) -> tuple[float, int]:
        if self.info is not None:
            return (self.info.sent, self.info.seq)
        return self.children[0].date() if self.children else (0.0, 0)


def _format(root: _Node) -> str:
    """One thread in RFC 5256 §4 syntax: a single child follows its parent ("1 2 3"), several
    children are parenthesised ("1 (2)(3)"). Iterative: a reply chain can be thousands deep."""
    out: list[str] = []
    stack: list[_Node | str] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        kids = item.children
        parts: list[_Node | str] = []
        if item.info is not None:
            out.append(str(item.info.num))
            if kids:
                parts.append(" ")
        if len(kids) == 1:
            parts.append(kids[0])
        else:
            for child in kids:
                parts += ["(", child, ")"]
        stack.extend(reversed(parts))
    return "".join(out)


def format_threads(roots: list[_Node]) -> str:
    return "".join(f"({_format(r)})" for r in roots)


def ordered_subject(infos: list[Info]) -> str:
    """THREAD=ORDEREDSUBJECT (RFC 5256 §3)."""
    groups: dict[str, list[Info]] = {}
    for info in sorted(infos, key=lambda i: (i.sent, i.seq)):
        groups.setdefault(info.subject, []).append(info)
    roots = []
    for members in groups.values():
        root = _Node(members[0])
        for other in members[1:]:
            root.adopt(_Node(other))
        roots.append(root)
    roots.sort(key=_Node.date)
    return format_threads(roots)


def references(infos: list[Info]) -> str:
    """THREAD=REFERENCES (RFC 5256 §3) of `infos`, numbered by `Info.num` (the server keeps
    a `threadindex.ThreadIndex` per folder instead; this is the same algorithm at once)."""
    ordered = sorted(infos, key=lambda i: i.seq)
    index = build((i.seq, i.message_id, i.references, i.sent, i.subject, i.reply)
                  for i in ordered)
    return index.text({i.seq: i.num for i in ordered})
