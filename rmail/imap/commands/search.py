"""SEARCH (with ESEARCH RFC 4731, SEARCHRES RFC 5182, CONDSTORE MODSEQ), SORT and THREAD
(RFC 5256), each also as a UID command."""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass

from rmail.imap import responses as r
from rmail.imap.commands.base import Done
from rmail.imap.errors import ImapNo
from rmail.imap.search import Columns, Searcher, gather
from rmail.imap.sequence import compress, compress_ordered
from rmail.imap.session import Session
from rmail.imap.sortindex import (
    FOLDER_STATES,
    SortKeys,
    ThreadItem,
    index_columns,
    sort_spec,
    sorted_uids,
    state_key,
    thread_items,
    threads_among,
)
from rmail.imap.sortthread import RESULT_MEMO, Info, info_from_record, ordered_subject
from rmail.imap.syntax import And, CancelUpdate, Search, SearchKey, SearchNode, Sort, Thread
from rmail.imap.threadindex import ThreadIndex
from rmail.store.mailbox import Folder


def _uses_modseq(node: SearchNode) -> bool:
    if isinstance(node, SearchKey):
        return node.name == "MODSEQ"
    if isinstance(node, And):
        return any(_uses_modseq(k) for k in node.keys)
    if hasattr(node, "key"):
        return _uses_modseq(node.key)
    return _uses_modseq(node.left) or _uses_modseq(node.right)  # type: ignore[union-attr]


async def _matches(s: Session, criteria: SearchNode) -> tuple[Columns, list[int]]:
    view = s.view()
    cols = await s.run(view.folder.read_index, lambda idx: gather(idx, view.uids))
    searcher = Searcher(view.folder, cols, set(s.saved), recent=view.recent)
    rows = await s.run(searcher.run, criteria)
    return cols, rows


_RESULTS = ("MIN", "MAX", "ALL", "COUNT", "PARTIAL")


def esearch_line(tag: str, uid: bool, nums: list[int], opts: tuple[str, ...],
                 partial: tuple[int, int] | None, ordered: bool) -> list[bytes]:
    """The data of `* ESEARCH` (RFC 4731, RFC 5267) for results `nums` in answer order
    (ascending for SEARCH, sort order for SORT: then MIN/MAX are its first and last)."""
    seqset = compress_ordered if ordered else compress
    parts = [b"ESEARCH (TAG " + r.string(tag) + b")"]
    if uid:
        parts.append(b"UID")
    if nums and "MIN" in opts:
        parts.append(b"MIN %d" % nums[0])
    if nums and "MAX" in opts:
        parts.append(b"MAX %d" % nums[-1])
    if nums and "ALL" in opts:
        parts.append(b"ALL " + seqset(nums).encode())
    if "COUNT" in opts:
        parts.append(b"COUNT %d" % len(nums))
    if partial is not None:
        first, last = partial
        window = nums[first - 1:last]
        parts.append(b"PARTIAL (%d:%d %s)" % (first, last,
                                              seqset(window).encode() if window else b"NIL"))
    return parts


async def search(s: Session, args: Search, uid: bool) -> Done:
    modseq = _uses_modseq(args.criteria)
    if modseq:
        s.enable_condstore()
    cols, rows = await _matches(s, args.criteria)
    nums = [cols.uids[i] if uid else cols.seqs[i] for i in rows]
    top_modseq = max((cols.modseqs[i] for i in rows), default=0)
    opts = args.return_opts
    if opts is None and not s.rev2:
        line = b"SEARCH" + b"".join(b" %d" % n for n in nums)
        if modseq and nums:
            line += b" (MODSEQ %d)" % top_modseq
        s.untagged(line)
        return Done()
    opts = opts or ("ALL",)
    if not set(opts) - {"CONTEXT"}:  # RFC 5267 §4.2: CONTEXT alone is a hint, as RETURN ()
        opts = ("ALL",)
    if "UPDATE" in opts:
        if "PARTIAL" in opts or "SAVE" in opts:
            raise ImapNo("UPDATE cannot be combined with PARTIAL or SAVE here",
                         f"NOUPDATE {r.string(s.tag).decode()}")
        s.add_context(s.tag, args.criteria, uid, [cols.uids[i] for i in rows])
    if "SAVE" in opts:
        picked = rows
        if rows and not ({"ALL", "COUNT"} & set(opts)) and ({"MIN", "MAX"} & set(opts)):
            picked = sorted({rows[0] if "MIN" in opts else rows[-1],
                             rows[-1] if "MAX" in opts else rows[0]})
        s.saved = [cols.uids[i] for i in picked]
        if opts == ("SAVE",):
            return Done()
    parts = esearch_line(s.tag, uid, nums, opts, args.partial, ordered=False)
    if modseq and nums and set(opts) & set(_RESULTS):
        if not {"ALL", "COUNT"} & set(opts):  # RFC 4731 §3.2: of the messages returned
            returned = [rows[0]] if "MIN" in opts else []
            returned += [rows[-1]] if "MAX" in opts else []
            top_modseq = max((cols.modseqs[i] for i in returned), default=top_modseq)
        parts.append(b"MODSEQ %d" % top_modseq)
    s.untagged(b" ".join(parts))
    return Done()


async def cancelupdate(s: Session, args: CancelUpdate) -> Done:
    """End live searches (RFC 5267 §4.6); a tag that names none is an error."""
    unknown = [t for t in args.tags if t not in s.contexts]
    for tag in args.tags:
        s.contexts.pop(tag, None)
    if unknown:
        raise ImapNo(f"no live search with tag {unknown[0]!r}")
    return Done()


async def search_seq(s: Session, args: Search) -> Done:
    return await search(s, args, uid=False)


async def search_uid(s: Session, args: Search) -> Done:
    return await search(s, args, uid=True)


def _infos(folder: Folder, cols: Columns, rows: list[int], uid: bool) -> list[Info]:
    recs = folder.header_records([cols.uids[i] for i in rows])
    return [info_from_record(cols.uids[i] if uid else cols.seqs[i], cols.seqs[i], cols.dates[i],
                             cols.sizes[i], rec) for i, rec in zip(rows, recs, strict=True)]


def _is_all(criteria: SearchNode) -> bool:
    return isinstance(criteria, And) and len(criteria.keys) == 1 and \
        isinstance(criteria.keys[0], SearchKey) and criteria.keys[0].name == "ALL"


def _remembered(s: Session, what: str, criteria: SearchNode, uid: bool) -> bytes | None:
    """The remembered answer for ALL over the whole view (what clients ask for), found
    without reading a column; None to compute it."""
    view = s.view()
    if view.gone or not _is_all(criteria):
        return None
    key = RESULT_MEMO.key(view.folder, what, view.uids.tobytes(), b"" if uid else b"ALL")
    return RESULT_MEMO.get(key)


@dataclass
class Picked:
    """The messages a SORT or THREAD covers, ascending by UID: their sequence numbers
    (None: 1..n, every message of the view), whether they are the whole view (then a
    message the folder's kept order holds and they lack has been expunged), the
    `ResultMemo` key parts, and how to read their arrival dates and sizes."""

    folder: Folder
    uids: list[int]
    seqs: list[int] | None
    whole: bool
    memo_uids: bytes
    memo_seqs: bytes
    columns: Callable[[list[int]], tuple[list[int], list[int]]]

    def memo_key(self, what: str) -> bytes:
        return RESULT_MEMO.key(self.folder, what, self.memo_uids, self.memo_seqs)

    def seq_of(self) -> dict[int, int]:
        if self.seqs is None:
            return {u: n for n, u in enumerate(self.uids, 1)}
        return dict(zip(self.uids, self.seqs, strict=True))


def _picked_view(s: Session, uid: bool) -> Picked:
    """Every message of the session's view (SORT/THREAD ... ALL with nothing expunged
    unannounced): no column is gathered and no search is run."""
    view = s.view()
    folder = view.folder

    return Picked(folder, view.uids.tolist(), None, True, view.uids.tobytes(),
                  b"" if uid else b"ALL", lambda uids: index_columns(folder, uids))


def _picked_rows(folder: Folder, cols: Columns, rows: list[int], uid: bool) -> Picked:
    """The rows a search matched."""
    uids = [cols.uids[i] for i in rows]
    if uid:
        memo_seqs = b""
    elif len(rows) == cols.view_len:  # every message of the view: 1..n
        memo_seqs = b"ALL"
    else:
        memo_seqs = array("q", [cols.seqs[i] for i in rows]).tobytes()

    def columns(some: list[int]) -> tuple[list[int], list[int]]:
        row_of = {cols.uids[i]: i for i in rows}
        at = [row_of[u] for u in some]
        return [cols.dates[i] for i in at], [cols.sizes[i] for i in at]

    return Picked(folder, uids, [cols.seqs[i] for i in rows], len(rows) == cols.view_len,
                  array("q", uids).tobytes(), memo_seqs, columns)


def _numbers(p: Picked, order: list[int], uid: bool) -> bytes:
    if not uid:
        seq_of = p.seq_of()
        order = [seq_of[u] for u in order]
    return (" " + " ".join(map(str, order))).encode() if order else b""


def _sorted(p: Picked, uid: bool, keys: SortKeys) -> bytes:
    """SORT's answer from the folder's `SortIndex` (only messages it has not seen yet are
    read from the header cache); remembered like THREAD's (see `ResultMemo`)."""
    key = p.memo_key(sort_spec(keys))
    done = RESULT_MEMO.get(key)
    if done is None:
        done = _numbers(p, sorted_uids(p.folder, p.uids, keys, p.whole, p.columns), uid)
        RESULT_MEMO.put(key, done)
    return done


def _all_at_once(s: Session, criteria: SearchNode) -> bool:
    return _is_all(criteria) and not s.view().gone


async def _picked(s: Session, criteria: SearchNode, uid: bool) -> Picked:
    if _all_at_once(s, criteria):
        return _picked_view(s, uid)
    cols, rows = await _matches(s, criteria)
    return _picked_rows(s.view().folder, cols, rows, uid)


async def _sort(s: Session, args: Sort, uid: bool) -> Done:
    opts = args.return_opts
    answer: bytes | None
    if opts is not None and "UPDATE" in opts:  # RFC 5267 CONTEXT=SORT: a live result
        if "PARTIAL" in opts or "SAVE" in opts:
            raise ImapNo("UPDATE cannot be combined with PARTIAL or SAVE here",
                         f"NOUPDATE {r.string(s.tag).decode()}")
        picked = await _picked(s, args.criteria, uid)
        order = await s.run(sorted_uids, picked.folder, picked.uids, args.keys, picked.whole,
                            picked.columns)
        s.add_context(s.tag, args.criteria, uid, order, keys=args.keys)
        answer = _numbers(picked, order, uid)
    else:
        answer = await s.run(_remembered, s, sort_spec(args.keys), args.criteria, uid)
        if answer is None:
            picked = await _picked(s, args.criteria, uid)
            answer = await s.run(_sorted, picked, uid, args.keys)
    if opts is None:
        s.untagged(b"SORT" + answer)
        return Done()
    if not set(opts) - {"CONTEXT"}:
        opts = ("ALL",)
    nums = [int(n) for n in answer.split()]
    s.untagged(b" ".join(esearch_line(s.tag, uid, nums, opts, args.partial, ordered=True)))
    return Done()


async def sort_seq(s: Session, args: Sort) -> Done:
    return await _sort(s, args, uid=False)


async def sort_uid(s: Session, args: Sort) -> Done:
    return await _sort(s, args, uid=True)


def _references(p: Picked, uid: bool) -> str:
    """THREAD=REFERENCES from the folder's `ThreadIndex`: new mail is linked into it, an
    expunge (or a search for part of the folder) makes a new one."""

    def items(uids: list[int]) -> list[ThreadItem]:
        return thread_items(uids, p.folder.header_records(uids), p.columns(uids)[0])

    key = state_key(p.folder, "THREAD REFERENCES")
    state = FOLDER_STATES.get(key, ThreadIndex)
    with state.lock:
        index, kept = threads_among(state if p.whole else None, p.uids, items)
        out = index.text(None if uid else p.seq_of())
    if p.whole and not kept:
        FOLDER_STATES.put(key, index)
    return out


def _threads(p: Picked, uid: bool, algorithm: str, infos: Callable[[], list[Info]]
             ) -> bytes:
    """THREAD's answer; the same messages under the same numbers give the same threads (a
    message's header never changes), so the last few answers are remembered."""
    key = p.memo_key("THREAD " + algorithm)
    done = RESULT_MEMO.get(key)
    if done is not None:
        return done
    if algorithm == "ORDEREDSUBJECT":
        out = ordered_subject(infos()).encode()
    else:
        out = _references(p, uid).encode()
    RESULT_MEMO.put(key, out)
    return out


async def _thread(s: Session, args: Thread, uid: bool) -> Done:
    threads = await s.run(_remembered, s, "THREAD " + args.algorithm, args.criteria, uid)
    if threads is None:
        if args.algorithm == "REFERENCES" and _all_at_once(s, args.criteria):
            picked = _picked_view(s, uid)
            threads = await s.run(_threads, picked, uid, args.algorithm, list)
        else:
            cols, rows = await _matches(s, args.criteria)
            folder = s.view().folder
            threads = await s.run(_threads, _picked_rows(folder, cols, rows, uid), uid,
                                  args.algorithm, lambda: _infos(folder, cols, rows, uid))
    s.untagged(b"THREAD " + threads if threads else b"THREAD")
    return Done()


async def thread_seq(s: Session, args: Thread) -> Done:
    return await _thread(s, args, uid=False)


async def thread_uid(s: Session, args: Thread) -> Done:
    return await _thread(s, args, uid=True)
