"""THREAD=REFERENCES (RFC 5256 §3, the algorithm of jwz.org/doc/threading.html), kept up to
date as messages arrive instead of recomputed over the whole folder.

Step 1 of the algorithm (linking messages by Message-ID and References) reads the messages in
sequence order and only ever looks at what came before, so a new message (a higher UID, hence
the last in sequence order) continues the same walk: `ThreadIndex.add` links it in O(depth)
and forgets the prepared threads of the trees it touched. Steps 2-4 (pruning dummies, sorting
siblings by sent date) depend on one tree alone, so their result is kept per root (`Top`) and
recomputed only for touched trees; step 5 (joining roots by base subject) and the final order
run over the roots alone at each request. Nodes are ints into parallel lists, not objects,
so 100,000 messages stay compact.

An expunge is applied by `remove` at the cost of the threads it touches. Step 1 only ever
reads and writes the nodes a message names (its own, its Message-ID's, its References) and
their links, and every link joins two nodes one message named; so the messages fall into
groups (a union-find over the nodes each message names) whose linking never sees another
group. Removing a message re-links its group alone, from the kept items in UID order, which
is exactly what a build over all remaining messages gives for that group; every other
tree, and its prepared threads, is untouched. Nodes of a re-linked group stay behind as
garbage until they outnumber the live ones, then the index is rebuilt from its items.

The answer carries UIDs; `text(seq_of)` turns them into sequence numbers for THREAD without
UID. An index covers exactly the UIDs it was given, in ascending order; another set of
messages (a search for part of the folder) needs a new one (the callers decide that).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter

NO_PARENT = -1
_NUMBER = re.compile(r"(\d+)")
Key = tuple[float, int]  # (sent date, UID): the order of RFC 5256 "sent date", then sequence
Kid = tuple[Key, str, str, bool]  # a child as step 5 sees it: key, text, subject, reply
Item = tuple[int, str | None, list[str], float, str, bool]  # what `add` takes


@dataclass(slots=True)
class Top:
    """One thread after steps 2-4: its root message (uid 0 for a dummy that keeps several
    children) and the root's children written out."""

    key: Key
    uid: int
    subject: str
    reply: bool
    kids: list[Kid]
    _text: str | None = field(default=None, repr=False)

    def text(self) -> str:
        if self._text is None:
            self._text = _write_top(self.uid, [k[1] for k in self.kids])
        return self._text

    def as_kid(self) -> Kid:
        return (self.key, self.text(), self.subject, self.reply)


def _write_top(uid: int, kids: list[str]) -> str:
    """RFC 5256 §4: a single child follows its parent ("1 2"), several are parenthesised."""
    head = str(uid) if uid else ""
    if not kids:
        return head
    body = kids[0] if len(kids) == 1 else "".join(f"({k})" for k in kids)
    return f"{head} {body}" if uid else body


class ThreadIndex:
    """Step 1 state of one folder's messages plus each tree's prepared threads. Not
    thread-safe by itself: callers hold `lock`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.uids: list[int] = []  # messages linked so far, ascending
        self.ids: dict[str, int] = {}  # Message-ID -> node
        self.msg: list[int] = []  # node -> UID of its message, 0 for a dummy
        self.parent: list[int] = []
        self.children: list[list[int]] = []
        self.roots: set[int] = set()
        self.about: dict[int, tuple[float, str, bool]] = {}  # UID -> sent, base subject, reply
        self._tops: dict[int, list[Top]] = {}  # root node -> its prepared threads
        self.items: dict[int, Item] = {}  # UID -> what `add` was given (re-linking reads it)
        self.node_of: dict[int, int] = {}  # UID -> its message's node
        self._group: list[int] = []  # node -> union-find parent (groups of step 1)
        self._members: dict[int, list[int]] = {}  # group root -> its nodes
        self.garbage = 0  # nodes of re-linked groups, no longer in any tree

    # -- step 1 ---------------------------------------------------------------------------------
    def _node(self, uid: int) -> int:
        n = len(self.msg)
        self.msg.append(uid)
        self.parent.append(NO_PARENT)
        self.children.append([])
        self.roots.add(n)
        self._group.append(n)
        self._members[n] = [n]
        return n

    def _find(self, n: int) -> int:
        group = self._group
        while group[n] != n:
            group[n] = group[group[n]]
            n = group[n]
        return n

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        big, small = (ra, rb) if len(self._members[ra]) >= len(self._members[rb]) else (rb, ra)
        self._group[small] = big
        self._members[big] += self._members.pop(small)

    def _root(self, n: int) -> int:
        parent = self.parent
        while parent[n] != NO_PARENT:
            n = parent[n]
        return n

    def _is_ancestor(self, a: int, b: int) -> bool:
        """Is `a` `b` or one of its ancestors?"""
        parent = self.parent
        while b != NO_PARENT:
            if b == a:
                return True
            b = parent[b]
        return False

    def _detach(self, c: int) -> None:
        old = self.parent[c]
        if old != NO_PARENT:
            self.children[old].remove(c)
            self.parent[c] = NO_PARENT
            self.roots.add(c)

    def _adopt(self, p: int, c: int) -> None:
        self._detach(c)
        self.roots.discard(c)
        self.parent[c] = p
        self.children[p].append(c)

    def add(self, uid: int, message_id: str | None, references: list[str], sent: float,
            subject: str, reply: bool) -> None:
        """Link message `uid` (higher than every UID added before)."""
        self.uids.append(uid)
        self._link(uid, message_id, references, sent, subject, reply)

    def _link(self, uid: int, message_id: str | None, references: list[str], sent: float,
              subject: str, reply: bool) -> None:
        self.about[uid] = (sent, subject, reply)
        self.items[uid] = (uid, message_id, references, sent, subject, reply)
        ids = self.ids
        prepared = bool(self._tops)  # else nothing to forget (a first build)
        touched = [ids[ref] for ref in references if ref in ids] if prepared else []
        node = ids.get(message_id) if message_id else None
        named = node  # the node the Message-ID names before this message (None: none)
        if node is None or self.msg[node]:  # unknown, or a duplicate id: a node of its own
            node = self._node(uid)
            if message_id and message_id not in ids:
                ids[message_id] = node
        else:  # a dummy made by an earlier message's References
            self.msg[node] = uid
            touched.append(node)
        self.node_of[uid] = node
        if named is not None:
            self._union(node, named)
        stale = {self._root(x) for x in touched} if prepared else set()
        stale.update(touched)
        prev = NO_PARENT
        for ref in references:
            ref_node = ids.get(ref)
            if ref_node is None:
                ref_node = ids[ref] = self._node(0)
            self._union(node, ref_node)
            if prev != NO_PARENT and self.parent[ref_node] == NO_PARENT and ref_node != prev \
                    and not self._is_ancestor(ref_node, prev):
                self._adopt(prev, ref_node)
            prev = ref_node
        self._detach(node)  # the message's own References decide its parent
        if prev != NO_PARENT and prev != node and not self._is_ancestor(node, prev):
            self._adopt(prev, node)
        if not prepared:
            return
        stale.add(self._root(node))
        if prev != NO_PARENT:
            stale.add(self._root(prev))
        for n in stale:
            self._tops.pop(n, None)

    def remove(self, gone: Iterable[int]) -> None:
        """Forget messages (expunged): their groups are re-linked without them, every other
        tree keeps its links and prepared threads."""
        gone_set = {u for u in gone if u in self.node_of}
        if not gone_set:
            return
        self.uids = [u for u in self.uids if u not in gone_set]
        groups = {self._find(self.node_of[u]) for u in gone_set}
        nodes = [n for g in groups for n in self._members.pop(g)]
        relink = sorted(self.msg[n] for n in nodes if self.msg[n] and self.msg[n] not in gone_set)
        for n in nodes:  # every node of the groups becomes garbage
            if n in self.roots:
                self.roots.discard(n)
                self._tops.pop(n, None)
            self.msg[n] = 0
            self.parent[n] = NO_PARENT
            self.children[n] = []
        dead = set(nodes)
        for u in relink + sorted(gone_set):  # every id a node of the groups carries
            _, message_id, references, *_ = self.items[u]
            for name in (message_id, *references):
                if name is not None and self.ids.get(name) in dead:
                    del self.ids[name]
        for u in gone_set:
            del self.about[u], self.items[u], self.node_of[u]
        self.garbage += len(nodes)
        if self.garbage > len(self.msg) - self.garbage:
            self._rebuild()
            return
        for u in relink:
            self._link(*self.items[u])

    def _rebuild(self) -> None:
        """Everything linked again from the kept items (garbage nodes dropped)."""
        fresh = build(self.items[u] for u in self.uids)
        for name in ("ids", "msg", "parent", "children", "roots", "about", "_tops", "items",
                     "node_of", "_group", "_members", "garbage"):
            setattr(self, name, getattr(fresh, name))

    # -- steps 2-4, per tree --------------------------------------------------------------------
    def _key(self, n: int) -> Key:
        uid = self.msg[n]
        return (self.about[uid][0], uid)

    def _prepare(self, root: int) -> list[Top]:
        """The threads of one tree: dummies below the root replaced by their children, a
        dummy root kept only with two or more children (RFC 5256 §2 step 4), siblings by date."""
        msg, children = self.msg, self.children
        order: list[int] = []  # post-order: children before their parent
        stack: list[tuple[int, bool]] = [(root, False)]
        while stack:
            n, expanded = stack.pop()
            if expanded:
                order.append(n)
            else:
                stack.append((n, True))
                stack.extend((c, False) for c in children[n])
        flat: dict[int, list[int]] = {}
        for n in order:
            kept: list[int] = []
            for c in children[n]:
                if msg[c]:
                    kept.append(c)
                else:
                    kept.extend(flat.pop(c))
            kept.sort(key=self._key)
            flat[n] = kept
        kids = flat[root]
        if msg[root]:
            top = root
        elif len(kids) == 1:
            top = kids[0]
        elif not kids:
            return []
        else:
            made = [self._kid(c, flat) for c in kids]
            return [Top(made[0][0], 0, made[0][2], made[0][3], made)]
        uid = msg[top]
        sent, subject, reply = self.about[uid]
        return [Top((sent, uid), uid, subject, reply, [self._kid(c, flat) for c in flat[top]])]

    def _kid(self, n: int, flat: dict[int, list[int]]) -> Kid:
        """Child `n` written out (iteratively: a reply chain can be thousands deep)."""
        out: list[str] = []
        stack: list[int | str] = [n]
        msg = self.msg
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                out.append(item)
                continue
            out.append(str(msg[item]))
            kids = flat[item]
            if not kids:
                continue
            out.append(" ")
            if len(kids) == 1:
                stack.append(kids[0])
            else:
                for c in reversed(kids):
                    stack += [")", c, "("]
        uid = msg[n]
        sent, subject, reply = self.about[uid]
        return ((sent, uid), "".join(out), subject, reply)

    def tops(self) -> list[Top]:
        """Every tree's prepared threads, by date (RFC 5256 §2 steps 2-4)."""
        out: list[Top] = []
        for root in self.roots:
            done = self._tops.get(root)
            if done is None:
                done = self._tops[root] = self._prepare(root)
            out.extend(done)
        out.sort(key=_top_key)
        return out

    # -- step 5 and the answer ------------------------------------------------------------------
    def text(self, seq_of: dict[int, int] | None = None) -> str:
        """The THREAD answer (without the `THREAD` word) with UIDs, or with the numbers of
        `seq_of` (UID -> sequence number)."""
        out = "".join(f"({t.text()})" for t in group_by_subject(self.tops()))
        if seq_of is None:
            return out
        parts = _NUMBER.split(out)
        parts[1::2] = [str(seq_of[int(n)]) for n in parts[1::2]]
        return "".join(parts)


def _top_key(t: Top) -> Key:
    return t.key


def group_by_subject(tops: list[Top]) -> list[Top]:
    """RFC 5256 §2 step 5 (and 6): threads whose roots share a base subject are joined.
    `tops` (by date) are not changed: a thread that gains children is copied first."""
    table: dict[str, Top] = {}
    for t in tops:
        if not t.subject:
            continue
        old = table.get(t.subject)
        if old is None or (old.uid and not t.uid) or \
                (old.reply and not t.reply and t.uid and old.uid):
            table[t.subject] = t
    copies: dict[int, Top] = {}  # id(original) -> its changed copy

    def changed(t: Top) -> Top:
        c = copies.get(id(t))
        if c is None:
            c = copies[id(t)] = Top(t.key, t.uid, t.subject, t.reply, list(t.kids))
        return c

    out: list[Top] = []
    adopted: set[int] = set()
    for t in tops:
        if id(t) in adopted:
            continue
        target = table.get(t.subject) if t.subject else None
        if target is None or target is t:
            out.append(t)
        elif not target.uid and not t.uid:  # two dummies: the children move over
            changed(target).kids.extend(t.kids)
        elif not target.uid or (t.reply and not target.reply):
            changed(target).kids.append(t.as_kid())
            adopted.add(id(t))
        else:  # neither is a reply of the other: both under a new dummy
            first = copies.get(id(target), target)
            if first is not target:
                _settle(first)
            dummy = Top(first.key, 0, first.subject, first.reply, [first.as_kid(), t.as_kid()])
            copies[id(dummy)] = dummy
            table[t.subject] = dummy
            adopted.update((id(target), id(t)))
            out.append(dummy)
    final: list[Top] = []
    for t in out:
        if id(t) in adopted:
            continue
        c = copies.get(id(t), t)
        if id(t) in copies:  # changed in this call (or a dummy made here)
            _settle(c)
        if c.uid or c.kids:
            final.append(c)
    final.sort(key=_top_key)
    return final


def _settle(t: Top) -> None:
    """Children back in date order after step 5 changed them (and a dummy's date with them)."""
    t.kids.sort(key=itemgetter(0))
    if not t.uid and t.kids:
        t.key = t.kids[0][0]
    t._text = None


def build(items: Iterable[tuple[int, str | None, list[str], float, str, bool]]
          ) -> ThreadIndex:
    """A ThreadIndex of `items` (uid, message id, references, sent, base subject, reply),
    ascending by UID."""
    index = ThreadIndex()
    for item in items:
        index.add(*item)
    return index
