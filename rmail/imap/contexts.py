"""Live SEARCH results (RFC 5267 CONTEXT=SEARCH, `SEARCH RETURN (UPDATE)`): a session keeps
the criteria and the UIDs that matched, and after each command tells the client which
messages joined (`ADDTO`) or left (`REMOVEFROM`) the result, until CANCELUPDATE or the
mailbox is closed. Results are recomputed on the current index when the folder changed (the
same columns and header cache as SEARCH itself); messages that left are reported before the
expunges are announced, so their sequence numbers are still the client's; messages that
joined after `* n EXISTS`, so theirs are already known."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from rmail.imap import responses as r
from rmail.imap.search import Searcher, gather
from rmail.imap.sequence import compress
from rmail.imap.sortindex import SortKeys
from rmail.imap.syntax import SearchNode
from rmail.store.mailbox import Folder

MAX_CONTEXTS = 8  # live searches per session; more get NO [NOUPDATE]


@dataclass
class UpdateContext:
    tag: str
    criteria: SearchNode
    uid: bool  # results as UIDs (UID SEARCH) or sequence numbers
    result: set[int]  # UIDs
    pending: set[int] | None = None  # the new result while an update is being reported
    keys: SortKeys | None = None  # a live SORT (RFC 5267 CONTEXT=SORT): its order matters
    order: list[int] = field(default_factory=list)  # SORT: the UIDs as the client has them
    pending_order: list[int] | None = None

    def take_out(self, uids: set[int]) -> list[tuple[int, int]]:
        """Remove `uids` from a live SORT's order: (position before removal, UID) pairs,
        last position first, so each position holds when the client applies them in turn."""
        pairs = [(i, u) for i, u in enumerate(self.order, 1) if u in uids]
        self.order = [u for u in self.order if u not in uids]
        return pairs[::-1]


def evaluate(folder: Folder, uids: array[int], criteria: SearchNode, saved: set[int],
             recent: set[int]) -> set[int]:
    """The UIDs among `uids` that match now; runs in a worker thread."""
    cols = folder.read_index(lambda idx: gather(idx, uids))
    rows = Searcher(folder, cols, saved, recent=recent).run(criteria)
    return {cols.uids[i] for i in rows}


def update_line(ctx: UpdateContext, what: bytes, nums: list[int]) -> bytes:
    """`ESEARCH (TAG "t") [UID] ADDTO|REMOVEFROM (0 set)`: position 0, the result of a
    SEARCH having no order (RFC 5267 §4.3)."""
    line = b"ESEARCH (TAG " + r.string(ctx.tag) + b")"
    if ctx.uid:
        line += b" UID"
    return line + b" " + what + b" (0 " + compress(sorted(nums)).encode() + b")"


def sorted_update_line(ctx: UpdateContext, what: bytes, pairs: list[tuple[int, int]]) -> bytes:
    """`ESEARCH (TAG "t") [UID] ADDTO|REMOVEFROM (pos n pos n ...)` for a live SORT: each
    message with its position in the sorted result (RFC 5267 §4.3.3, §4.3.4), applied in the
    order given."""
    line = b"ESEARCH (TAG " + r.string(ctx.tag) + b")"
    if ctx.uid:
        line += b" UID"
    return line + b" " + what + b" (" + b" ".join(b"%d %d" % p for p in pairs) + b")"
