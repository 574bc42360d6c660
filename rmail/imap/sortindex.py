"""SORT and THREAD=REFERENCES kept up to date per folder, so a request after new mail costs
the new messages, not the folder.

A message's sort keys never change under its UID (its header, size and arrival date are
fixed), so a folder's order under one set of keys only changes by messages arriving (inserted
by binary search) and leaving (filtered out). `SortIndex` keeps that order; `ThreadIndex`
(`threadindex.py`) does the same for REFERENCES threading. Both live in `FOLDER_STATES`, a
small per-process LRU keyed by folder directory, UIDVALIDITY and what is kept, and are built
from the header cache the first time they are asked for. Each worker process keeps its own;
the store stays the only truth (every request says exactly which UIDs it covers).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from rmail.imap.threadindex import ThreadIndex
from rmail.mail.headerkeys import (
    F_BASE,
    F_REFERENCES,
    F_REPLY,
    F_SENT,
    F_THREAD_ID,
    SORT_SLOTS,
)
from rmail.store.headercache import Record

if TYPE_CHECKING:
    from rmail.store.journal import FolderIndex
    from rmail.store.mailbox import Folder

SortKeys = tuple[tuple[str, bool], ...]  # (key name, reverse), most significant first
REBUILD_SHARE = 8  # more than 1/8 of the folder new at once: sort everything again
T = TypeVar("T")


def sort_values(keys: SortKeys, recs: Sequence[Record | None], arrivals: Sequence[int],
                sizes: Sequence[int]) -> list[tuple[Any, ...]]:
    """The values for `keys` of messages with header-cache records `recs` and index columns
    `arrivals`, `sizes` (RFC 5256 §3; DATE falls back to the arrival date), one column at a
    time."""
    columns: list[Sequence[Any]] = []
    for key, _ in keys:
        if key == "ARRIVAL":
            columns.append(arrivals)
        elif key == "SIZE":
            columns.append(sizes)
        elif key == "DATE":
            columns.append([a if r is None or r[F_SENT] is None else r[F_SENT]
                            for r, a in zip(recs, arrivals, strict=True)])
        else:
            slot = F_BASE if key == "SUBJECT" else SORT_SLOTS[key]
            columns.append(["" if r is None else r[slot] or "" for r in recs])
    return list(zip(*columns, strict=True))


class SortIndex:
    """A folder's messages in the order of one SORT key list; callers hold `lock`."""

    def __init__(self, keys: SortKeys) -> None:
        self.keys = keys
        self.reverse = [rev for _, rev in keys]
        self.lock = threading.Lock()
        self.order: list[int] = []  # UIDs, sorted
        self.values: dict[int, tuple[Any, ...]] = {}
        self.held: list[int] = []  # the UIDs of `values`, ascending

    def _resort(self) -> None:
        values = self.values
        self.held = sorted(values)
        order = list(self.held)  # by UID: sequence order, the last tie-break
        if not any(self.reverse):  # one stable sort by the whole tuple
            order.sort(key=values.__getitem__)
        else:
            for i in reversed(range(len(self.keys))):  # stable sorts, least significant first
                column = {u: v[i] for u, v in values.items()}
                order.sort(key=column.__getitem__, reverse=self.reverse[i])
        self.order = order

    def _before(self, a: int, b: int) -> bool:
        """Does UID `a` sort before UID `b`?"""
        va, vb = self.values[a], self.values[b]
        for x, y, rev in zip(va, vb, self.reverse, strict=True):
            if x != y:
                return x > y if rev else x < y
        return a < b

    def add(self, new: dict[int, tuple[Any, ...]]) -> None:
        """Insert messages (UID -> values) not held yet."""
        self.values.update(new)
        if len(new) * REBUILD_SHARE > len(self.values):
            self._resort()
            return
        fresh = sorted(new)
        if self.held and fresh and fresh[0] < self.held[-1]:
            self.held = sorted(self.values)
        else:  # new mail: higher UIDs
            self.held.extend(fresh)
        order = self.order
        for uid in fresh:
            lo, hi = 0, len(order)
            while lo < hi:
                mid = (lo + hi) // 2
                if self._before(order[mid], uid):
                    lo = mid + 1
                else:
                    hi = mid
            order.insert(lo, uid)

    def keep_only(self, uids: set[int]) -> None:
        """Forget every message not in `uids` (expunged ones)."""
        self.order = [u for u in self.order if u in uids]
        self.values = {u: self.values[u] for u in self.order}
        self.held = [u for u in self.held if u in uids]

    def sorted_among(self, uids: Sequence[int], whole_view: bool,
                     fetch: Callable[[list[int]], dict[int, tuple[Any, ...]]]) -> list[int]:
        """`uids` (ascending) in sort order. `fetch` gives the values of UIDs not held yet.
        With `whole_view` the request covers every message the client sees, so messages
        outside it have been expunged and are forgotten."""
        n = len(self.held)
        if list(uids[:n]) == self.held:  # the usual case: the same messages, maybe new mail
            missing = list(uids[n:])
        else:
            missing = [u for u in uids if u not in self.values]
        if missing:
            self.add(fetch(missing))
        if len(self.values) == len(uids):  # all held, nothing else held: the same set
            return list(self.order)
        wanted = set(uids)
        if whole_view:
            self.keep_only(wanted)
            return list(self.order)
        return [u for u in self.order if u in wanted]


class FolderStates:
    """The last few SortIndex/ThreadIndex objects of this process (bounded: each holds a
    value per message of a folder)."""

    def __init__(self, size: int = 6) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, str], make: Callable[[], T]) -> T:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                item = self._items[key] = make()
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return item  # type: ignore[no-any-return]

    def put(self, key: tuple[str, int, str], item: Any) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


FOLDER_STATES = FolderStates()


ThreadItem = tuple[int, str | None, list[str], float, str, bool]


def index_columns(folder: Folder, uids: list[int]) -> tuple[list[int], list[int]]:
    """Arrival dates and sizes of `uids` from the folder index (0 for one that has gone)."""
    def read(idx: FolderIndex) -> tuple[list[int], list[int]]:
        at = [idx.position(u) for u in uids]
        return ([0 if i is None else idx.dates[i] for i in at],
                [0 if i is None else idx.sizes[i] for i in at])
    return folder.read_index(read)


def state_key(folder: Folder, what: str) -> tuple[str, int, str]:
    return (str(folder.layout.dir), folder.index().uidvalidity, what)


def sort_spec(keys: SortKeys) -> str:
    return "SORT " + " ".join(f"{'-' if rev else ''}{k}" for k, rev in keys)


def sorted_uids(folder: Folder, uids: list[int], keys: SortKeys, whole: bool = False,
                columns: Callable[[list[int]], tuple[list[int], list[int]]] | None = None
                ) -> list[int]:
    """`uids` (ascending) in the order of `keys`, through the folder's SortIndex; `columns`
    gives arrival dates and sizes (default: read from the index)."""
    read = columns or (lambda some: index_columns(folder, some))

    def fetch(missing: list[int]) -> dict[int, tuple[Any, ...]]:
        dates, sizes = read(missing)
        values = sort_values(keys, folder.header_records(missing), dates, sizes)
        return dict(zip(missing, values, strict=True))

    state = FOLDER_STATES.get(state_key(folder, sort_spec(keys)), lambda: SortIndex(keys))
    with state.lock:
        return state.sorted_among(uids, whole, fetch)


def thread_items(uids: Sequence[int], recs: Sequence[Record | None], arrivals: Sequence[int]
                 ) -> list[ThreadItem]:
    """What `ThreadIndex.add` takes for each message, from its header-cache record."""
    return [(u, None, [], a, "", False) if r is None else
            (u, r[F_THREAD_ID], r[F_REFERENCES] or [], a if r[F_SENT] is None else r[F_SENT],
             r[F_BASE], r[F_REPLY]) for u, r, a in zip(uids, recs, arrivals, strict=True)]


def threads_among(index: ThreadIndex | None, uids: Sequence[int],
                  items: Callable[[list[int]], list[ThreadItem]]) -> tuple[ThreadIndex, bool]:
    """A ThreadIndex of exactly `uids` (ascending): `index` continued when it covers a prefix
    of them once the messages `uids` lacks (expunged: `index` is only passed for the whole
    view) are removed from it, else a new one. Returns it and whether it is `index`."""
    if index is not None:
        n = len(index.uids)
        if n > len(uids) or index.uids[:n] != list(uids[:n]):
            wanted = set(uids)
            index.remove([u for u in index.uids if u not in wanted])
            n = len(index.uids)
        if n <= len(uids) and index.uids == list(uids[:n]):
            for item in items(list(uids[n:])):
                index.add(*item)
            return index, True
    fresh = ThreadIndex()
    for item in items(list(uids)):
        fresh.add(*item)
    return fresh, False
