"""Per-connection state: who is logged in, what is enabled, and the selected mailbox's view.

The view (`SelectedView`) is this session's own picture of the selected folder: the UIDs the
client knows, in sequence-number order, and the modseq up to which the client has been told
about changes. The store moves on without us (other sessions, delivery, POP3, the API);
`Session.catch_up` compares the store's index with the view and tells the client, at the
points RFC 3501 §7.4.1 allows:

- new messages: `* n EXISTS` whenever a command completes;
- flag changes: `* n FETCH (UID u FLAGS (...) [MODSEQ (m)])` likewise;
- expunges: remembered as `gone`, and announced (`* n EXPUNGE`, or `* VANISHED` with QRESYNC)
  only when the command in progress is not FETCH, STORE or SEARCH by sequence number, so
  sequence numbers never shift under a client that is still using them. Until then a gone
  message keeps its sequence number; FETCH of it answers `NO [EXPUNGEISSUED]`.

`\\Recent` is a session flag (RFC 3501 §2.3.2): the view holds the UIDs this session claimed
(`Folder.claim_recent`) at SELECT and as new mail arrives, and adds the flag to what it shows;
it never reaches the store. EXAMINE and IMAP4rev2 sessions (RFC 9051 removed \\Recent) claim
nothing, so they leave new mail recent for a session that can see it. `* n RECENT` follows
`* n EXISTS` whenever the count changed, except under IMAP4rev2.
"""

from __future__ import annotations

import enum
import functools
import itertools
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from rmail.imap import responses as r
from rmail.imap.contexts import (
    MAX_CONTEXTS,
    UpdateContext,
    evaluate,
    sorted_update_line,
    update_line,
)
from rmail.imap.errors import ImapBad, ImapBye, ImapNo
from rmail.imap.notify import KIND_EVENT, NotifyState
from rmail.imap.sequence import SequenceError, SequenceSet, compress
from rmail.imap.sortindex import SortKeys, sorted_uids
from rmail.imap.syntax import SearchNode
from rmail.store.errors import NotFound
from rmail.store.journal import SYSTEM_FLAGS, FolderIndex

if TYPE_CHECKING:
    from rmail.auth import Principal
    from rmail.imap.connection import Connection
    from rmail.imap.server import Limits
    from rmail.services import Services
    from rmail.store.events import Change, Subscription
    from rmail.store.mailbox import Folder, UserMailbox

T = TypeVar("T")

class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


RECENT = "\\Recent"

ANY = frozenset(State) - {State.LOGOUT}
NOT_AUTH = frozenset({State.NOT_AUTHENTICATED})
AUTH = frozenset({State.AUTHENTICATED, State.SELECTED})
SELECTED = frozenset({State.SELECTED})

# Extensions that ENABLE accepts (RFC 5161), upper-case.
ENABLEABLE = ("CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2")


# Advertised after login as well as before (RFC 3501 §7.2.1), in this order.
EXTENSIONS = (
    "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "MULTIAPPEND",
    "CATENATE", "MOVE", "CHILDREN",
    "SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "CONDSTORE",
    "QRESYNC", "ESEARCH", "SEARCHRES", "SORT", "SORT=DISPLAY", "THREAD=ORDEREDSUBJECT",
    "THREAD=REFERENCES", "QUOTA", "QUOTA=RES-STORAGE", "BINARY", "UTF8=ACCEPT", "STATUS=SIZE",
    "OBJECTID", "ESORT", "CONTEXT=SEARCH", "CONTEXT=SORT", "METADATA", "METADATA-SERVER", "NOTIFY",
)


def capabilities(*, tls: bool, starttls: bool, login_allowed: bool, authenticated: bool,
                 compressed: bool, appendlimit: int) -> list[str]:
    """The CAPABILITY list for a connection in a given situation."""
    caps = ["IMAP4rev1", "IMAP4rev2"]
    if not authenticated:
        if starttls and not tls:
            caps.append("STARTTLS")
        if login_allowed:
            caps += ["AUTH=PLAIN", "AUTH=LOGIN", "SASL-IR"]
        else:
            caps.append("LOGINDISABLED")
    caps += list(EXTENSIONS)
    caps.append(f"APPENDLIMIT={appendlimit}")
    if not compressed:
        caps.append("COMPRESS=DEFLATE")
    return caps


@dataclass
class Delta:
    """What changed in the store since the view's modseq (computed under the index lock)."""

    modseq: int
    new: list[int]
    changed: list[tuple[int, tuple[str, ...], int]]
    vanished: list[int]
    keywords: frozenset[str]


def keywords_of(idx: FolderIndex) -> frozenset[str]:
    system = set(SYSTEM_FLAGS)
    return frozenset(f for fs in idx.flagsets for f in fs if f not in system)


def compute_delta(idx: FolderIndex, view: array[int], since: int,
                  changes: list[Change] | None = None) -> Delta | None:
    """What changed in the index after modseq `since`, for a client that knows `view`.

    With `changes` (the event-bus records of this folder received since the last call) that
    account for every modseq after `since`, only the messages they name are looked at, so the
    cost follows the change. Otherwise (changes still in flight, made by another process, or
    a queue that overflowed) the modseq column is scanned.
    """
    if idx.highestmodseq <= since:
        return None
    top = view[-1] if view else 0
    iuids = idx.uids
    split = bisect_right(iuids, top)
    new = iuids[split:].tolist()
    if changes is not None:
        delta = _delta_from_changes(idx, top, since, changes)
        if delta is not None:
            return Delta(idx.highestmodseq, new, delta[0], delta[1], keywords_of(idx))
    mods, fids, fsets = idx.modseqs, idx.flag_ids, idx.flagsets
    changed = [(iuids[i], fsets[fids[i]], mods[i])
               for i in itertools.compress(range(split), map(since.__lt__, mods))]
    van = idx.vanished_since(since)
    if van is None:  # tombstones that old are gone: compare sets
        vanished = sorted(set(view) - set(iuids[:split]))
    else:
        vanished = [u for u in van if u <= top]
    return Delta(idx.highestmodseq, new, changed, vanished, keywords_of(idx))


def _delta_from_changes(idx: FolderIndex, top: int, since: int, changes: list[Change]
                        ) -> tuple[list[tuple[int, tuple[str, ...], int]], list[int]] | None:
    covered = 0
    flagged: set[int] = set()
    vanished: set[int] = set()
    for ch in changes:
        if ch.modseq <= since:
            continue
        first = ch.modseq - len(ch.uids) + 1 if ch.kind == "append" else ch.modseq
        if first <= since or ch.modseq > idx.highestmodseq:
            return None
        covered += ch.modseq - first + 1
        if ch.kind == "flags":
            flagged.update(u for u in ch.uids if u <= top)
        elif ch.kind == "expunge":
            vanished.update(u for u in ch.uids if u <= top)
    if covered != idx.highestmodseq - since:
        return None
    changed = []
    for uid in sorted(flagged):
        i = idx.position(uid)
        if i is not None and idx.modseqs[i] > since:
            changed.append((uid, idx.flags_of(i), idx.modseqs[i]))
    return changed, sorted(vanished)


@dataclass
class SelectedView:
    folder: Folder
    readonly: bool
    uidvalidity: int
    uids: array[int]
    modseq: int
    keywords: frozenset[str]
    gone: set[int] = field(default_factory=set)
    reported: dict[int, int] = field(default_factory=dict)  # uid -> modseq we already sent
    claims_recent: bool = False  # SELECT outside IMAP4rev2
    recent: set[int] = field(default_factory=set)  # UIDs that are \Recent in this session
    recent_sent: int = 0  # the count in the last `* n RECENT`
    peeked_recent: int = 0  # EXAMINE: recent messages no session has taken (RFC 3501 §6.3.2)

    def recent_count(self) -> int:
        """What `* n RECENT` says: this session's own \\Recent messages, or for a session that
        takes none (EXAMINE) what SELECT would take."""
        return len(self.recent) if self.claims_recent else self.peeked_recent

    def with_recent(self, uid: int, flags: tuple[str, ...]) -> tuple[str, ...]:
        """The flags to show for a message: the stored ones, plus \\Recent if it is ours."""
        return (*flags, RECENT) if uid in self.recent else flags

    @property
    def name(self) -> str:
        """The folder's current name: the store renames open Folder objects in place, so a
        RENAME of the selected mailbox (by any session) is followed here."""
        return self.folder.name

    def seq_of(self, uid: int) -> int | None:
        i = bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else None

    def resolve(self, seqset: SequenceSet, uid: bool, saved: list[int]) -> list[int]:
        """0-based positions in the view named by a sequence set (or a UID set)."""
        if seqset.saved:
            return [i for u in saved if (i := self._pos(u)) is not None]
        if uid:
            return seqset.uid_positions(self.uids)
        try:
            return seqset.positions(len(self.uids))
        except SequenceError as exc:
            raise ImapBad(str(exc)) from None

    def _pos(self, uid: int) -> int | None:
        i = bisect_left(self.uids, uid)
        return i if i < len(self.uids) and self.uids[i] == uid else None

    def permanent_flags(self) -> bytes:
        if self.readonly:
            return b"()"
        return r.flag_list(["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft",
                            *sorted(self.keywords), "\\*"])

    def flags_line(self) -> bytes:
        return b"FLAGS " + r.flag_list(["\\Answered", "\\Flagged", "\\Deleted", "\\Seen",
                                        "\\Draft", *sorted(self.keywords)])


class Session:
    """One IMAP connection's state; handlers in `commands/` act on it."""

    def __init__(self, core: Services, conn: Connection, limits: Limits, *,
                 starttls: bool, ssl_context: Any) -> None:
        self.core = core
        self.conn = conn
        self.limits = limits
        self.starttls_offered = starttls
        self.ssl_context = ssl_context
        self.peer_ip = conn.peer_ip()
        self.client_name = ""  # from the client's ID (RFC 2971), for the auth log
        self.state = State.NOT_AUTHENTICATED
        self.principal: Principal | None = None
        self.mailbox: UserMailbox | None = None
        self.selected: SelectedView | None = None
        self.enabled: set[str] = set()
        self.condstore_seen = False  # client used a CONDSTORE feature (RFC 7162 §3.1)
        self.saved: list[int] = []  # SEARCHRES "$": UIDs
        self.sub: Subscription | None = None
        self.tag = "*"  # of the command in progress (ESEARCH echoes it)
        self.changes: list[Change] = []  # event-bus records of the selected folder
        self.changes_lost = False
        self.contexts: dict[str, UpdateContext] = {}  # RFC 5267 live searches, by tag
        self.notify: NotifyState | None = None  # RFC 5465 NOTIFY SET

    # -- facts --------------------------------------------------------------------------------
    @property
    def utf8(self) -> bool:
        return "UTF8=ACCEPT" in self.enabled or "IMAP4REV2" in self.enabled

    @property
    def rev2(self) -> bool:
        return "IMAP4REV2" in self.enabled

    @property
    def condstore(self) -> bool:
        return self.condstore_seen or "CONDSTORE" in self.enabled or "QRESYNC" in self.enabled

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.enabled

    def enable_condstore(self) -> None:
        """A CONDSTORE enabling command (RFC 7162 §3.1) was used; the first one issued while
        a mailbox is selected is answered with `OK [HIGHESTMODSEQ]` for that mailbox."""
        if self.condstore:
            return
        self.condstore_seen = True
        if self.selected is not None:
            self.untagged(b"OK [HIGHESTMODSEQ %d] Highest" % self.selected.modseq)

    def trusted(self) -> bool:
        return self.peer_ip is not None and self.core.config.security.is_trusted(self.peer_ip)

    def login_allowed(self) -> bool:
        """RFC 3501 §6.2.3: no plaintext passwords before TLS outside trusted networks."""
        return self.conn.tls or self.trusted()

    def capabilities(self) -> list[str]:
        return capabilities(tls=self.conn.tls, starttls=self.starttls_offered,
                            login_allowed=self.login_allowed(),
                            authenticated=self.state in AUTH,
                            compressed=self.conn.compressed,
                            appendlimit=self.limits.appendlimit)

    # -- output -------------------------------------------------------------------------------
    def untagged(self, data: bytes) -> None:
        self.conn.write(b"* " + data + b"\r\n")

    def mailbox_name(self, name: str) -> bytes:
        return r.mailbox(name, self.utf8)

    # -- store calls --------------------------------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Store calls (fsync, file reads) run on the process's store pool, never on the loop."""
        return await self.core.run(fn, *args, **kwargs)

    # -- the selected view --------------------------------------------------------------------
    def view(self) -> SelectedView:
        assert self.selected is not None
        return self.selected

    def add_context(self, tag: str, criteria: SearchNode, uid: bool, result: list[int],
                    keys: SortKeys | None = None) -> None:
        """Keep a SEARCH or SORT RETURN (UPDATE) result live (RFC 5267 §4); for SORT,
        `result` is in sort order."""
        if len(self.contexts) >= MAX_CONTEXTS and tag not in self.contexts:
            raise ImapNo(f"at most {MAX_CONTEXTS} live searches",
                         f"NOUPDATE {r.string(tag).decode()}")
        self.contexts[tag] = UpdateContext(tag, criteria, uid, set(result), keys=keys,
                                           order=list(result) if keys else [])

    def _numbered(self, ctx: UpdateContext, pairs: list[tuple[int, int]]
                  ) -> list[tuple[int, int]]:
        """(position, UID) pairs with the numbers the context reports (UIDs or sequence
        numbers)."""
        if ctx.uid:
            return pairs
        view = self.view()
        return [(p, n) for p, u in pairs if (n := view.seq_of(u)) is not None]

    async def _contexts_removed(self, view: SelectedView, new: list[int]) -> None:
        """Recompute the live searches and report what left them (before expunges)."""
        uids = array("q", [u for u in view.uids if u not in view.gone])
        uids.extend(new)
        for ctx in self.contexts.values():
            now = await self.run(evaluate, view.folder, uids, ctx.criteria, set(self.saved),
                                 set(view.recent))
            ctx.pending = now
            left = ctx.result - now
            ctx.result -= left
            if ctx.keys is not None:  # a live SORT: positions in its order
                ctx.pending_order = await self.run(sorted_uids, view.folder, sorted(now),
                                                   ctx.keys)
                pairs = self._numbered(ctx, ctx.take_out(left))
                if pairs:
                    self.untagged(sorted_update_line(ctx, b"REMOVEFROM", pairs))
                continue
            if left:
                nums = sorted(left) if ctx.uid else sorted(
                    n for u in left if (n := view.seq_of(u)) is not None)
                if nums:
                    self.untagged(update_line(ctx, b"REMOVEFROM", nums))

    def _contexts_added(self, view: SelectedView) -> None:
        for ctx in self.contexts.values():
            if ctx.pending is None:
                continue
            joined = ctx.pending - ctx.result
            ctx.result, ctx.pending = ctx.pending, None
            if ctx.keys is not None and ctx.pending_order is not None:
                ctx.order, ctx.pending_order = ctx.pending_order, None
                pairs = self._numbered(ctx, [(i, u) for i, u in enumerate(ctx.order, 1)
                                             if u in joined])
                if pairs:
                    self.untagged(sorted_update_line(ctx, b"ADDTO", pairs))
                continue
            if joined:
                nums = sorted(joined) if ctx.uid else sorted(
                    n for u in joined if (n := view.seq_of(u)) is not None)
                if nums:
                    self.untagged(update_line(ctx, b"ADDTO", nums))

    def deselect(self) -> None:
        self.selected = None
        self.saved = []
        self.contexts = {}
        self.changes = []
        if self.state == State.SELECTED:
            self.state = State.AUTHENTICATED

    def drain_events(self) -> bool:
        """Move the event-bus records of the selected folder into `self.changes`; True when
        there were any (IDLE then has something to report)."""
        if self.sub is None:
            return False
        queue = self.sub.queue
        fid = self.selected.folder.id if self.selected is not None else None
        relevant = False
        notify = self.notify
        while not queue.empty():
            change = queue.get_nowait()
            if fid is not None and change.folder_id == fid:
                self.changes.append(change)
                relevant = True
            elif notify is not None:  # RFC 5465: other mailboxes' events
                if change.kind == "folders":
                    notify.folders_changed = relevant = True
                elif change.folder_id is not None and change.kind in KIND_EVENT:
                    notify.pending.setdefault(change.folder_id, set()).add(
                        KIND_EVENT[change.kind])
                    relevant = True
        if self.sub.overflowed:
            self.sub.overflowed = False
            self.changes_lost = True
            relevant = fid is not None
            if notify is not None:
                notify.resync = notify.folders_changed = relevant = True
        return relevant

    def take_changes(self) -> list[Change] | None:
        """The folder's changes since the last catch-up, or None when some were lost."""
        self.drain_events()
        changes, self.changes = self.changes, []
        lost, self.changes_lost = self.changes_lost, False
        return None if lost or self.sub is None else changes

    async def catch_up(self, *, expunge: bool) -> None:
        """Tell the client what changed in the selected folder (see the module docstring)."""
        view = self.selected
        if view is None:
            return
        changes = self.take_changes()
        try:
            delta = await self.run(view.folder.read_index,
                                   functools.partial(compute_delta, view=view.uids,
                                                     since=view.modseq, changes=changes))
        except NotFound:
            self.deselect()
            raise ImapBye("the selected mailbox was deleted") from None
        if delta is not None:
            self._apply_delta(view, delta)
            if self.contexts:
                await self._contexts_removed(view, delta.new)
        if expunge and view.gone:
            self.announce_expunged(sorted(view.gone))
        if delta is not None and delta.new:
            view.uids.extend(delta.new)
            if view.claims_recent:
                view.recent.update(await self.run(view.folder.claim_recent, delta.new))
            elif not self.rev2:
                view.peeked_recent = await self.run(view.folder.unclaimed_recent)
            self.untagged(b"%d EXISTS" % len(view.uids))
        self.report_recent()
        if delta is not None and self.contexts:
            self._contexts_added(view)

    def report_recent(self) -> None:
        """`* n RECENT` when the count changed since the client last heard it (RFC 3501
        §7.3.2); never under IMAP4rev2."""
        view = self.view()
        if not self.rev2 and view.recent_count() != view.recent_sent:
            view.recent_sent = view.recent_count()
            self.untagged(b"%d RECENT" % view.recent_sent)

    def _apply_delta(self, view: SelectedView, delta: Delta) -> None:
        if not delta.keywords <= view.keywords:
            view.keywords = view.keywords | delta.keywords
            self.untagged(view.flags_line())
            self.untagged(b"OK [PERMANENTFLAGS " + view.permanent_flags() + b"] Flags")
        for uid in delta.vanished:
            if view.seq_of(uid) is not None:
                view.gone.add(uid)
        modseq = self.condstore
        for uid, flags, m in delta.changed:
            if uid in view.gone or view.reported.get(uid) == m:
                continue
            seq = view.seq_of(uid)
            if seq is None:
                continue
            line = b"%d FETCH (UID %d FLAGS %s" % (seq, uid,
                                                   r.flag_list(view.with_recent(uid, flags)))
            self.untagged(line + (b" MODSEQ (%d))" % m if modseq else b")"))
        view.modseq = delta.modseq
        view.reported.clear()

    def announce_expunged(self, uids: list[int]) -> None:
        """Remove `uids` from the view, telling the client (EXPUNGE or VANISHED)."""
        view = self.view()
        positions = sorted((p for u in uids if (p := view._pos(u)) is not None), reverse=True)
        if not positions:
            return
        gone = {view.uids[p] for p in positions}
        for ctx in self.contexts.values():  # RFC 5267: leaving a live result is told first
            left = ctx.result & gone
            if left and ctx.keys is not None:
                ctx.result -= left
                pairs = self._numbered(ctx, ctx.take_out(left))
                if pairs:
                    self.untagged(sorted_update_line(ctx, b"REMOVEFROM", pairs))
            elif left:
                ctx.result -= left
                nums = sorted(left) if ctx.uid else [p + 1 for p in sorted(positions)
                                                     if view.uids[p] in left]
                self.untagged(update_line(ctx, b"REMOVEFROM", nums))
        if self.qresync:
            self.untagged(b"VANISHED " + compress(gone).encode())
        else:
            for p in positions:
                self.untagged(b"%d EXPUNGE" % (p + 1))
        if len(positions) * 8 < len(view.uids):
            for p in positions:
                del view.uids[p]
        else:
            view.uids = array("q", (u for u in view.uids if u not in gone))
        view.gone -= gone
        view.recent -= gone
        self.saved = [u for u in self.saved if u not in gone]
