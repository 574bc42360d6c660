"""STORE and UID STORE, with CONDSTORE UNCHANGEDSINCE and [MODIFIED ...] (RFC 7162 §3.1.3)."""

from __future__ import annotations

from rmail.imap import responses as r
from rmail.imap.commands.base import Done
from rmail.imap.errors import ImapNo
from rmail.imap.sequence import compress
from rmail.imap.session import Session, keywords_of
from rmail.imap.syntax import Store
from rmail.store.journal import FolderIndex

Row = tuple[int, tuple[str, ...], int]  # uid, flags, modseq


def _rows(idx: FolderIndex, uids: list[int]) -> tuple[list[Row | None], frozenset[str]]:
    out: list[Row | None] = []
    for uid in uids:
        i = idx.position(uid)
        out.append(None if i is None else (uid, idx.flags_of(i), idx.modseqs[i]))
    return out, keywords_of(idx)


async def store(s: Session, args: Store) -> Done:
    view = s.view()
    if view.readonly:
        raise ImapNo("the mailbox is read-only (EXAMINE)", "READ-ONLY")
    if args.unchangedsince is not None:
        s.enable_condstore()
    positions = view.resolve(args.sequence, args.uid, s.saved)
    uids = [u for p in positions if (u := view.uids[p]) not in view.gone]
    result = await s.run(view.folder.store_flags, uids, args.mode, args.flags,
                         unchanged_since=args.unchangedsince)
    failed = set(result.failed)
    changed = set(result.changed)
    rows, keywords = await s.run(view.folder.read_index, lambda idx: _rows(idx, uids))
    if not keywords <= view.keywords:
        view.keywords = view.keywords | keywords
        s.untagged(view.flags_line())
        s.untagged(b"OK [PERMANENTFLAGS " + view.permanent_flags() + b"] Flags permitted")
    condstore = s.condstore
    for row in rows:
        if row is None or row[0] in failed:
            continue
        uid, flags, modseq = row
        if uid in changed:
            view.reported[uid] = modseq
        seq = view.seq_of(uid) or 0  # a UID of `uids` is in the view
        if args.silent and not (condstore and uid in changed):
            continue
        items = [b"UID %d" % uid] if args.uid or condstore else []
        if not args.silent:
            items.append(b"FLAGS " + r.flag_list(view.with_recent(uid, flags)))
        if condstore:
            items.append(b"MODSEQ (%d)" % modseq)
        s.untagged(b"%d FETCH (" % seq + b" ".join(items) + b")")
    if failed:
        named = failed if args.uid else {view.seq_of(u) or 0 for u in failed}
        return Done("Conditional STORE failed", f"MODIFIED {compress(named)}")
    return Done()
