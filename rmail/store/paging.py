"""Keyset paging over a folder's index: a page starts after an anchor UID, found by binary
search in the sorted UID column, so fetching page 10,000 of a 1,000,000-message folder costs
the same as page 1 (O(log n + limit)), and messages arriving or leaving between two requests
neither repeat nor skip a message that stays (the anchor is a UID, not an offset).

Synchronous and protocol-free; the JSON API turns anchors into opaque cursors.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from rmail.store.journal import FolderIndex, MessageRecord
from rmail.store.mailbox import Folder

__all__ = ["Page", "page_of"]


@dataclass(frozen=True, slots=True)
class Page:
    records: list[MessageRecord]  # in the requested order
    total: int                    # messages in the folder now
    more_before: bool             # messages exist before the first record (in that order)
    more_after: bool              # ... and after the last one


def _page(idx: FolderIndex, anchor: int | None, limit: int, newest_first: bool,
          backwards: bool) -> Page:
    """Up to `limit` records following `anchor` in the order (preceding it when
    `backwards`); from the start of the order when `anchor` is None."""
    uids = idx.uids
    n = len(uids)
    # walk ascending when (newest_first == backwards), else descending
    ascending = newest_first == backwards
    if ascending:
        edge = 0 if anchor is None else bisect_right(uids, anchor)
        positions = range(edge, min(edge + limit, n))
    else:
        edge = n if anchor is None else bisect_left(uids, anchor)
        positions = range(edge - 1, max(edge - 1 - limit, -1), -1)
    records = [idx.record_at(i) for i in positions]
    if positions:
        lo, hi = min(positions[0], positions[-1]), max(positions[0], positions[-1])
    else:  # nothing on that side of the anchor: the empty span sits at `edge`
        lo, hi = edge, edge - 1
    has_lower, has_higher = lo > 0, hi < n - 1
    if backwards:
        records.reverse()
    # in ascending display order "before" means lower UIDs
    display_ascending = not newest_first
    before, after = (has_lower, has_higher) if display_ascending else (has_higher, has_lower)
    return Page(records, n, before, after)


def page_of(folder: Folder, anchor: int | None, limit: int, *, newest_first: bool,
            backwards: bool = False) -> Page:
    """One page, read under the folder's in-memory lock so no change tears it."""
    return folder.read_index(lambda idx: _page(idx, anchor, limit, newest_first, backwards))
