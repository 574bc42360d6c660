"""FETCH and UID FETCH, with CONDSTORE CHANGEDSINCE and QRESYNC VANISHED (RFC 7162 §3.2.6).

Rows come from the index in one consistent read; message data is rendered by
`rmail.imap.fetch.Renderer` in worker threads, in batches, so a `FETCH 1:* (FLAGS)` over a
large folder streams out instead of building one giant reply, and a client reading slowly
holds back further reads (backpressure through the connection's drain).
"""

from __future__ import annotations

from array import array

from rmail.imap.commands.base import Done
from rmail.imap.errors import ImapBad, ImapNo
from rmail.imap.fetch import INDEX_ONLY, Gone, Renderer, Row, render_index_only
from rmail.imap.sequence import compress
from rmail.imap.session import RECENT, Session
from rmail.imap.syntax import Fetch, FetchAtt
from rmail.store.journal import SEEN, FolderIndex

INDEX_BATCH = 20000  # messages per batch when only the index is needed
FILE_BATCH = 50  # when meta or message files are read


def _sets_seen(att: FetchAtt) -> bool:
    return (att.name in ("BODY[]", "BINARY[]") and not att.peek) or \
        att.name in ("RFC822", "RFC822.TEXT")


def _rows(idx: FolderIndex, view: array[int], positions: list[int],
          changedsince: int | None, recent: set[int]) -> tuple[list[Row], int]:
    """Index rows for the view positions (0-based) asked for, with this session's \\Recent
    among the flags; also how many are gone."""
    iuids, mods, sizes, dates = idx.uids, idx.modseqs, idx.sizes, idx.dates
    fids, fsets = idx.flag_ids, idx.flagsets
    n = len(view)
    if len(iuids) >= n and iuids[:n] == view:  # nothing gone: view position = index position
        pairs: list[tuple[int, int]] = [(p, p) for p in positions]
        missing = 0
    else:
        pairs = []
        missing = 0
        for p in positions:
            i = idx.position(view[p])
            if i is None:
                missing += 1
            else:
                pairs.append((p, i))
    if changedsince is not None:
        pairs = [(p, i) for p, i in pairs if mods[i] > changedsince]
    rows = [Row(p + 1, iuids[i], fsets[fids[i]], sizes[i], dates[i], mods[i])
            for p, i in pairs]
    if recent:
        rows = [row._replace(flags=(*row.flags, RECENT)) if row.uid in recent else row
                for row in rows]
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


def announce_keywords(s: Session, rows: list[Row]) -> None:
    """`* FLAGS` before any row shows a keyword another session added since this one last
    heard the list (RFC 3501 §7.2.6: a client may only see flags that FLAGS announced)."""
    view = s.view()
    shown = frozenset(f for flags in {row.flags for row in rows} for f in flags
                      if not f.startswith("\\"))
    if not shown <= view.keywords:
        view.keywords = view.keywords | shown
        s.untagged(view.flags_line())
        s.untagged(b"OK [PERMANENTFLAGS " + view.permanent_flags() + b"] Flags permitted")


async def fetch(s: Session, args: Fetch) -> Done:
    view = s.view()
    if args.changedsince is not None or any(a.name == "MODSEQ" for a in args.atts):
        s.enable_condstore()
    if args.vanished and not s.qresync:
        raise ImapBad("VANISHED needs ENABLE QRESYNC")
    positions = view.resolve(args.sequence, args.uid, s.saved)
    if args.vanished and args.changedsince is not None and not args.sequence.saved:
        since = args.changedsince
        gone = await s.run(view.folder.read_index, lambda idx: _vanished(idx, since, args))
        if gone:
            s.untagged(b"VANISHED (EARLIER) " + compress(gone).encode())
    show_flags: set[int] = set()
    if not view.readonly and any(_sets_seen(a) for a in args.atts):
        present = [u for p in positions if (u := view.uids[p]) not in view.gone]
        result = await s.run(view.folder.store_flags, present, "add", [SEEN])
        show_flags = set(result.changed)
        for uid in result.changed:
            view.reported[uid] = result.modseq
    rows, missing = await s.run(view.folder.read_index,
                                lambda idx: _rows(idx, view.uids, positions, args.changedsince,
                                                  view.recent))
    announce_keywords(s, rows)
    if all(a.name in INDEX_ONLY for a in args.atts) and not show_flags:
        for start in range(0, len(rows), INDEX_BATCH):
            chunk = rows[start:start + INDEX_BATCH]
            s.conn.write(await s.run(render_index_only, chunk, args.atts, s.condstore))
            await s.conn.maybe_drain()
    else:
        renderer = Renderer(view.folder, args.atts, utf8=s.utf8, modseq=s.condstore)
        for start in range(0, len(rows), FILE_BATCH):
            chunk = rows[start:start + FILE_BATCH]
            data, lost = await s.run(_render, renderer, chunk, show_flags)
            missing += lost
            s.conn.write(data)
            await s.conn.maybe_drain()
    if missing:
        raise ImapNo("some of the requested messages no longer exist", "EXPUNGEISSUED")
    return Done()
