"""FETCH and UID FETCH, with CONDSTORE CHANGEDSINCE and QRESYNC VANISHED (RFC 7162 §3.2.6).

Rows come from the index in one consistent read; message data is rendered by
`rmail.imap.fetch.Renderer` in worker threads, in batches, so a `FETCH 1:* (FLAGS)` over a
large folder streams out instead of building one giant reply, and a client reading slowly
holds back further reads (backpressure through the connection's drain).
"""

from __future__ import annotations

from rmail.imap.commands.base import Done
from rmail.imap.errors import ImapBad, ImapNo
from rmail.imap.fetch import Gone, Renderer, Row, needs_file, needs_meta
from rmail.imap.sequence import compress
from rmail.imap.session import Session
from rmail.imap.syntax import Fetch, FetchAtt
from rmail.store.journal import SEEN, FolderIndex

INDEX_BATCH = 5000  # messages per batch when only the index is needed
FILE_BATCH = 50  # when meta or message files are read


def _sets_seen(att: FetchAtt) -> bool:
    return (att.name in ("BODY[]", "BINARY[]") and not att.peek) or \
        att.name in ("RFC822", "RFC822.TEXT")


def _rows(idx: FolderIndex, targets: list[tuple[int, int]], changedsince: int | None
          ) -> tuple[list[Row], int]:
    rows: list[Row] = []
    missing = 0
    position, mods, sizes, dates = idx.position, idx.modseqs, idx.sizes, idx.dates
    for seq, uid in targets:
        i = position(uid)
        if i is None:
            missing += 1
            continue
        m = mods[i]
        if changedsince is not None and m <= changedsince:
            continue
        rows.append(Row(seq, uid, idx.flags_of(i), sizes[i], dates[i], m))
    return rows, missing


def _render(renderer: Renderer, rows: list[Row], show_flags: set[int]) -> tuple[bytes, int]:
    out: list[bytes] = []
    missing = 0
    for row in rows:
        try:
            out.append(renderer.render(row, show_flags=row.uid in show_flags))
        except Gone:
            missing += 1
    return b"".join(out), missing


def _vanished(idx: FolderIndex, since: int, args: Fetch) -> list[int]:
    top = idx.uidnext - 1
    van = idx.vanished_since(since)
    if van is None:  # tombstones that old were dropped: every UID we lack may have gone
        present = set(idx.uids)
        van = [u for lo, hi in args.sequence.ranges
               for u in range(min(lo or top, hi or top), min(max(lo or top, hi or top), top) + 1)
               if u not in present]
    return sorted({u for u in van if args.sequence.contains_uid(u, top)})


async def fetch(s: Session, args: Fetch) -> Done:
    view = s.view()
    if args.changedsince is not None or any(a.name == "MODSEQ" for a in args.atts):
        s.condstore_seen = True
    if args.vanished and not s.qresync:
        raise ImapBad("VANISHED needs ENABLE QRESYNC")
    positions = view.resolve(args.sequence, args.uid, s.saved)
    if args.vanished and args.changedsince is not None and not args.sequence.saved:
        since = args.changedsince
        gone = await s.run(view.folder.read_index, lambda idx: _vanished(idx, since, args))
        if gone:
            s.untagged(b"VANISHED (EARLIER) " + compress(gone).encode())
    targets = [(p + 1, view.uids[p]) for p in positions]
    show_flags: set[int] = set()
    if not view.readonly and any(_sets_seen(a) for a in args.atts):
        present = [u for _, u in targets if u not in view.gone]
        result = await s.run(view.folder.store_flags, present, "add", [SEEN])
        show_flags = set(result.changed)
        for uid in result.changed:
            view.reported[uid] = result.modseq
    rows, missing = await s.run(view.folder.read_index,
                                lambda idx: _rows(idx, targets, args.changedsince))
    renderer = Renderer(view.folder, args.atts, utf8=s.utf8, modseq=s.condstore)
    heavy = any(needs_meta(a) or needs_file(a) for a in args.atts)
    batch = FILE_BATCH if heavy else INDEX_BATCH
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        data, lost = await s.run(_render, renderer, chunk, show_flags)
        missing += lost
        s.conn.write(data)
        await s.conn.maybe_drain()
    if missing:
        raise ImapNo("some of the requested messages no longer exist", "EXPUNGEISSUED")
    return Done()
