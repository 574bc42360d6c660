"""SORT and THREAD (RFC 5256, DISPLAYFROM/DISPLAYTO from RFC 5957).

Keys come from the delivery-time parse (`Folder.meta`: envelope and summary), never from
re-parsing messages. Pure functions over `Info` records, so the algorithms are tested without
a store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from rmail.mail.headers import decode_words


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


def _first(addrs: list[list[str | None]] | None) -> list[str | None] | None:
    """The first address, where a group's start (`[None, None, name, None]`) counts with its
    name as the mailbox, as in Dovecot; a group's end marker is skipped."""
    for a in addrs or ():
        if a[2] is not None or a[3] is not None:
            return a
    return None


def info_from_meta(num: int, seq: int, arrival: int, size: int, meta: dict[str, Any] | None
                   ) -> Info:
    env = (meta or {}).get("envelope") or {}
    summ = (meta or {}).get("summary") or {}
    sent: float = arrival
    if summ.get("date"):
        try:
            sent = dt.datetime.fromisoformat(summ["date"]).timestamp()
        except (ValueError, OverflowError):
            pass
    subject = " ".join((summ.get("subject") or "").split())
    base = summ.get("base_subject") or ""
    refs = list(summ.get("references") or [])
    if not refs and summ.get("in_reply_to"):
        refs = [summ["in_reply_to"]]
    addr = {}
    for key, name in (("FROM", "from"), ("TO", "to"), ("CC", "cc")):
        a = _first(env.get(name))
        addr[key] = (a[2] or "").upper() if a else ""
        if key in ("FROM", "TO"):
            display = decode_words(a[0]).strip() if a and a[0] else ""
            spec = f"{a[2] or ''}@{a[3]}" if a and a[3] else (a[2] or "" if a else "")
            addr["DISPLAY" + key] = (display or spec).upper()
    return Info(num, seq, arrival, size, sent, base.upper(), base != subject and bool(subject),
                summ.get("message_id"), refs, addr)


# -- SORT -------------------------------------------------------------------------------------
def sort_key(info: Info, key: str) -> Any:
    if key == "ARRIVAL":
        return info.arrival
    if key == "DATE":
        return info.sent
    if key == "SIZE":
        return info.size
    if key == "SUBJECT":
        return info.subject
    return info.addr.get(key, "")


def sort(infos: list[Info], keys: tuple[tuple[str, bool], ...]) -> list[int]:
    """Numbers in RFC 5256 order; ties fall back to the sequence number."""
    out = sorted(infos, key=lambda i: i.seq)
    for key, reverse in reversed(keys):  # stable sorts, least significant key first
        out.sort(key=lambda i, k=key: sort_key(i, k), reverse=reverse)  # type: ignore[misc]
    return [i.num for i in out]


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
