"""SEARCH (with ESEARCH RFC 4731, SEARCHRES RFC 5182, CONDSTORE MODSEQ), SORT and THREAD
(RFC 5256), each also as a UID command."""

from __future__ import annotations

from rmail.imap import responses as r
from rmail.imap.commands.base import Done
from rmail.imap.search import Columns, Searcher, gather
from rmail.imap.sequence import compress
from rmail.imap.session import Session
from rmail.imap.sortthread import (
    RESULT_MEMO,
    Info,
    info_from_record,
    ordered_subject,
    references,
    sort_rows,
)
from rmail.imap.syntax import And, Search, SearchKey, SearchNode, Sort, Thread
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
    if "SAVE" in opts:
        picked = rows
        if rows and not ({"ALL", "COUNT"} & set(opts)) and ({"MIN", "MAX"} & set(opts)):
            picked = sorted({rows[0] if "MIN" in opts else rows[-1],
                             rows[-1] if "MAX" in opts else rows[0]})
        s.saved = [cols.uids[i] for i in picked]
        if opts == ("SAVE",):
            return Done()
    parts = [b"ESEARCH (TAG " + r.string(s.tag) + b")"]
    if uid:
        parts.append(b"UID")
    if nums and "MIN" in opts:
        parts.append(b"MIN %d" % nums[0])
    if nums and "MAX" in opts:
        parts.append(b"MAX %d" % nums[-1])
    if nums and "ALL" in opts:
        parts.append(b"ALL " + compress(nums).encode())
    if "COUNT" in opts:
        parts.append(b"COUNT %d" % len(nums))
    if modseq and nums:
        if not {"ALL", "COUNT"} & set(opts):  # RFC 4731 §3.2: of the messages returned
            returned = [rows[0]] if "MIN" in opts else []
            returned += [rows[-1]] if "MAX" in opts else []
            top_modseq = max((cols.modseqs[i] for i in returned), default=top_modseq)
        parts.append(b"MODSEQ %d" % top_modseq)
    s.untagged(b" ".join(parts))
    return Done()


async def search_seq(s: Session, args: Search) -> Done:
    return await search(s, args, uid=False)


async def search_uid(s: Session, args: Search) -> Done:
    return await search(s, args, uid=True)


def _infos(folder: Folder, cols: Columns, rows: list[int], uid: bool) -> list[Info]:
    recs = folder.header_records([cols.uids[i] for i in rows])
    return [info_from_record(cols.uids[i] if uid else cols.seqs[i], cols.seqs[i], cols.dates[i],
                             cols.sizes[i], rec) for i, rec in zip(rows, recs, strict=True)]


def _sorted(folder: Folder, cols: Columns, rows: list[int], uid: bool,
            keys: tuple[tuple[str, bool], ...]) -> bytes:
    """SORT's answer from the index columns and the header cache, without per-message
    objects; remembered like THREAD's (see `ResultMemo`)."""
    nums = cols.uids if uid else cols.seqs
    uids = [cols.uids[i] for i in rows]
    spec = "SORT " + " ".join(f"{'-' if rev else ''}{k}" for k, rev in keys)
    key = RESULT_MEMO.key(folder, spec, [nums[i] for i in rows], uids)
    done = RESULT_MEMO.get(key)
    if done is None:
        recs = folder.header_records(uids)
        done = b"".join(b" %d" % nums[i]
                        for i in sort_rows(rows, recs, cols.dates, cols.sizes, keys))
        RESULT_MEMO.put(key, done)
    return done


async def _sort(s: Session, args: Sort, uid: bool) -> Done:
    cols, rows = await _matches(s, args.criteria)
    s.untagged(b"SORT" + await s.run(_sorted, s.view().folder, cols, rows, uid, args.keys))
    return Done()


async def sort_seq(s: Session, args: Sort) -> Done:
    return await _sort(s, args, uid=False)


async def sort_uid(s: Session, args: Sort) -> Done:
    return await _sort(s, args, uid=True)


def _threads(folder: Folder, cols: Columns, rows: list[int], uid: bool, algorithm: str
             ) -> bytes:
    """THREAD's answer; the same messages under the same numbers give the same threads (a
    message's header never changes), so the last few answers are remembered."""
    nums = [cols.uids[i] if uid else cols.seqs[i] for i in rows]
    uids = [cols.uids[i] for i in rows]
    key = RESULT_MEMO.key(folder, "THREAD " + algorithm, nums, uids)
    done = RESULT_MEMO.get(key)
    if done is not None:
        return done
    infos = _infos(folder, cols, rows, uid)
    fn = ordered_subject if algorithm == "ORDEREDSUBJECT" else references
    out = fn(infos).encode()
    RESULT_MEMO.put(key, out)
    return out


async def _thread(s: Session, args: Thread, uid: bool) -> Done:
    cols, rows = await _matches(s, args.criteria)
    threads = await s.run(_threads, s.view().folder, cols, rows, uid, args.algorithm)
    s.untagged(b"THREAD " + threads if threads else b"THREAD")
    return Done()


async def thread_seq(s: Session, args: Thread) -> Done:
    return await _thread(s, args, uid=False)


async def thread_uid(s: Session, args: Thread) -> Done:
    return await _thread(s, args, uid=True)
