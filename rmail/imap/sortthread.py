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


# -- SORT -------------------------------------------------------------------------------------
def sort_rows(rows: list[int], recs: list[Record | None], arrival: list[int],
              sizes: list[int], keys: tuple[tuple[str, bool], ...]) -> list[int]:
    """`rows` (ascending: sequence order, the final tie-break) in RFC 5256 order, with
    `recs[k]` the header-cache record of `rows[k]` and `arrival`/`sizes` index columns."""
    order = list(range(len(rows)))
    for key, reverse in reversed(keys):  # stable sorts, least significant key first
        column: list[Any]
        if key == "ARRIVAL":
            column = [arrival[i] for i in rows]
        elif key == "SIZE":
            column = [sizes[i] for i in rows]
        elif key == "DATE":
            column = [arrival[i] if r is None or r[F_SENT] is None else r[F_SENT]
                      for i, r in zip(rows, recs, strict=True)]
        else:
            slot = F_BASE if key == "SUBJECT" else SORT_SLOTS[key]
            column = ["" if r is None else r[slot] for r in recs]
        order.sort(key=column.__getitem__, reverse=reverse)
    return [rows[k] for k in order]


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

    def ancestor_of(self, other: _Node) -> bool:
        node: _Node | None = other
        while node is not None:
            if node is self:
                return True
            node = node.parent
        return False

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
    """THREAD=REFERENCES (RFC 5256 §3, the algorithm of jwz.org/doc/threading.html)."""
    table: dict[str, _Node] = {}
    ordered = sorted(infos, key=lambda i: i.seq)
    for info in ordered:
        mid = info.message_id
        node = table.get(mid) if mid else None
        if node is None or node.info is not None:  # missing or duplicate id: a unique one
            node = _Node(info)
            if mid and mid not in table:
                table[mid] = node
            else:
                table[f"<rmail-unique-{info.seq}>"] = node
        else:
            node.info = info
        prev: _Node | None = None
        for ref in info.references:
            ref_node = table.get(ref)
            if ref_node is None:
                ref_node = table[ref] = _Node()
            if prev is not None and ref_node.parent is None and ref_node is not prev \
                    and not ref_node.ancestor_of(prev):
                prev.adopt(ref_node)
            prev = ref_node
        if node.parent is not None:
            node.parent.children.remove(node)
            node.parent = None
        if prev is not None and prev is not node and not node.ancestor_of(prev):
            prev.adopt(node)
    roots = [n for n in table.values() if n.parent is None]
    roots = _prune(roots, top=True)
    for root in roots:
        _sort_tree(root)
    roots.sort(key=_Node.date)
    roots = _group_by_subject(roots)
    for root in roots:
        _sort_tree(root)
    roots.sort(key=_Node.date)
    return format_threads(roots)


def _post_order(roots: list[_Node]) -> list[_Node]:
    """Every node under `roots`, children before their parent (no recursion)."""
    out: list[_Node] = []
    stack: list[tuple[_Node, bool]] = [(r, False) for r in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            out.append(node)
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in node.children)
    return out


def _prune(roots: list[_Node], top: bool = True) -> list[_Node]:
    """RFC 5256 §2 step 4: drop empty dummies; below the root level a dummy is replaced by its
    children, at the root only a dummy with one child is."""
    for node in _post_order(roots):
        kept: list[_Node] = []
        for child in node.children:
            if child.info is None:
                for grandchild in child.children:
                    grandchild.parent = node
                kept.extend(child.children)
            else:
                kept.append(child)
        node.children = kept
    out: list[_Node] = []
    for root in roots:
        if root.info is None and len(root.children) <= 1:
            for child in root.children:
                child.parent = None
            out.extend(root.children)
        else:
            out.append(root)
    return out


def _sort_tree(root: _Node) -> None:
    for node in _post_order([root]):
        node.children.sort(key=_Node.date)


def _subject_of(node: _Node) -> tuple[str, bool]:
    info = node.info or (node.children[0].info if node.children else None)
    return (info.subject, info.reply) if info else ("", False)


def _group_by_subject(roots: list[_Node]) -> list[_Node]:
    """RFC 5256 §2 step 5: join threads whose roots share a base subject."""
    table: dict[str, _Node] = {}
    for root in roots:
        subject, reply = _subject_of(root)
        if not subject:
            continue
        old = table.get(subject)
        if old is None or (old.info is not None and root.info is None) or \
                (_subject_of(old)[1] and not reply and root.info is not None
                 and old.info is not None):
            table[subject] = root
    out: list[_Node] = []
    for root in roots:
        if root.parent is not None:  # already merged into another thread
            continue
        subject, reply = _subject_of(root)
        target = table.get(subject) if subject else None
        if target is None or target is root:
            out.append(root)
        elif target.info is None and root.info is None:
            for child in list(root.children):
                target.adopt(child)
        elif target.info is None or (reply and not _subject_of(target)[1]):
            target.adopt(root)
        else:
            dummy = _Node()
            table[subject] = dummy
            dummy.adopt(target)
            dummy.adopt(root)
            out.append(dummy)
    unique: dict[int, _Node] = {}
    for node in out:
        if node.parent is None and (node.info is not None or node.children):
            unique[id(node)] = node
    return list(unique.values())
