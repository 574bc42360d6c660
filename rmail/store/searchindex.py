"""A user's full-text index: SQLite FTS5 (standard library) in `mail/search.sqlite`, one row per
message of every folder, kept in step with the folders' indexes.

Why FTS5: an inverted index with phrase queries, Unicode case and diacritic folding
(`unicode61 remove_diacritics 2`) and crash-safe transactions (WAL), in C; a word among
100,000 messages is a doclist walk, not a scan. CJK text is split into one token per character
before it reaches the tokenizer (`rmail.mail.searchquery.fold_text`), so words of Japanese or
Chinese are found as phrases.

Keeping in step: each folder's row in `state` records the UIDVALIDITY, highest modseq and
last UID indexed. `sync` (run by the server's indexer on change events,
`rmail.scheduling.indexer`, and with a small budget before each search for what events missed)
costs one index read per unchanged folder; for a changed one it indexes the UIDs above the
last one and removes those the folder's tombstones name as expunged (a full comparison of
UID lists when the tombstones no longer reach back). A lost or damaged database is rebuilt
from the folders: it is a cache, never the truth. Writers hold `search.lock` (flock, so
workers and the CLI take turns) and commit in batches, so a crash loses at most the batch in
flight, which the next sync redoes.

Size: the FTS5 table is contentless (`content=''`): it holds the inverted index with
positions (so phrases work) but no copy of the text. SQLite before 3.43 cannot delete a row of a
contentless table without the very text indexed, so a removed message only loses its `docs`
row: its FTS5 entries stay as garbage that every query drops by joining `docs` (whose ids are
AUTOINCREMENT, never reused, so garbage never names a new message). When garbage outnumbers
the live documents (`needs_compaction`), `compact` rebuilds the FTS5 table from the folders in
one transaction (readers keep the old snapshot meanwhile; the server's indexer runs it).

Results come in index order, newest indexed first (`rowid` descending; indexing follows UID
order, i.e. arrival), which FTS5 walks without sorting: a limit of 20 stops after 20 matches
whatever the total.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from rmail.mail.message_json import thread_id
from rmail.mail.searchquery import SearchQuery, fts_expression
from rmail.mail.searchtext import index_text
from rmail.store import fsutil
from rmail.store.errors import CorruptStore, NotFound
from rmail.store.journal import SEEN, MessageRecord
from rmail.store.mailbox import Folder, UserMailbox

__all__ = ["BATCH", "CATCHUP", "CATCHUP_WAIT", "Hit", "SearchIndex", "reindex_all", "search_index"]

VERSION = 5  # 2: docs.thread; 4: contentless fts, AUTOINCREMENT ids; 5: automerge 16
FLAGGED = "\\Flagged"
BATCH = 200  # messages indexed per transaction
COMPACT_MIN = 1000  # garbage rows below which an index is never rebuilt
CATCHUP = 100  # messages a search indexes itself at most (the indexer does the rest)
CATCHUP_WAIT = 1.0  # seconds a search waits for the indexer's batch before answering without
_FTS = ("fts5(sender, recipients, subject, body, content = '', "
        "tokenize = 'unicode61 remove_diacritics 2')")
# FTS5 writes each transaction's terms as a new segment and merges segments as they pile up:
# with its default (merge 4 segments of a level) the merging cost more than the inserts
# themselves, more with every level the index grows (20,000 messages: 145 of 228 us per
# message). Merging 16 at a time rewrites each entry half as often (log16 levels, not log4);
# a query probes a few more segments (tenths of a millisecond), and `compact` starts afresh.
_FTS_SETTINGS = "INSERT INTO fts (fts, rank) VALUES ('automerge', 16);"
_SCHEMA = f"""
PRAGMA user_version = {VERSION};
CREATE TABLE IF NOT EXISTS docs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, folder TEXT NOT NULL, uid INTEGER NOT NULL,
    size INTEGER NOT NULL, idate INTEGER NOT NULL, att INTEGER NOT NULL,
    thread TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS docs_folder_uid ON docs(folder, uid);
CREATE INDEX IF NOT EXISTS docs_thread ON docs(thread);
CREATE TABLE IF NOT EXISTS state (
    folder TEXT PRIMARY KEY, uidvalidity INTEGER NOT NULL, modseq INTEGER NOT NULL,
    last_uid INTEGER NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING {_FTS};
{_FTS_SETTINGS}
"""


@dataclass(frozen=True, slots=True)
class Hit:
    row: int  # the index's row id: the cursor position
    folder_id: str
    uid: int


@dataclass(frozen=True, slots=True)
class _Doc:
    uid: int
    size: int
    idate: int
    att: bool
    thread: str
    fields: tuple[str, str, str, str]


class SearchIndex:
    """One user's index; thread-safe (one connection, used under `_lock`)."""

    def __init__(self, mailbox: UserMailbox) -> None:
        self.mailbox = mailbox
        self.path = str(mailbox.layout.dir / "search.sqlite")
        self.lock_path = str(mailbox.layout.dir / "search.lock")
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    # -- the database ------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if not self.mailbox.layout.dir.parent.is_dir():  # never bring a deleted user back
                raise NotFound(f"no user {self.mailbox.username}@{self.mailbox.domain}")
            fsutil.ensure_dir(self.mailbox.layout.dir)
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")  # a cache: WAL keeps it intact
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > VERSION:
                    raise CorruptStore(f"{self.path}: index version {version} is newer than "
                                       f"this rmail ({VERSION})")
                if version == 4:  # the same tables: only the merge setting is new
                    conn.executescript(f"BEGIN IMMEDIATE; {_FTS_SETTINGS} "
                                       f"PRAGMA user_version = {VERSION}; COMMIT;")
                elif version not in (0, VERSION):  # an older layout: a cache, so start over
                    raise sqlite3.DatabaseError(f"index version {version}")
                elif version != VERSION:
                    conn.executescript(_SCHEMA)
                conn.execute("SELECT count(*) FROM state").fetchone()
            except sqlite3.DatabaseError:
                conn.close()
                self._discard_files()
                return self._connect()
            self._conn = conn
        return self._conn

    def _discard_files(self) -> None:
        """A damaged database is dropped and rebuilt from the folders."""
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path + suffix)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def reindex(self) -> int:
        """Drop everything and index every folder again (`rmail check --reindex`)."""
        with fsutil.locked(self.lock_path), self._lock:
            self.close()
            self._discard_files()
        done = self.sync()  # waits for the lock, so it always counts
        assert done is not None
        return done

    # -- keeping in step ---------------------------------------------------------------------
    def sync(self, *, progress: Callable[[int], None] | None = None,
             folders: set[str] | None = None, budget: int | None = None,
             wait: bool | float = True) -> int | None:
        """Bring the index up to date with the folders; returns messages (re)indexed.

        ``folders``: only these folder ids (a change event names its folder; deleted folders
        are dropped only by a full sync). ``budget``: index at most this many messages (the
        rest stays pending, so a search's catch-up stays cheap). ``wait=False`` or seconds:
        return None at once, or after that long, when another thread or process is indexing
        (the indexer at work, a compaction or `rmail check --reindex`)."""
        done = 0
        with _index_lock(self.lock_path, wait) as got:
            if not got:
                return None
            with self._lock:
                conn = self._connect()
                try:
                    known = {row[0]: row[1:] for row in conn.execute(
                        "SELECT folder, uidvalidity, modseq, last_uid FROM state")}
                    live: set[str] = set()
                    for entry in self.mailbox.entries():
                        if entry.folder_id is None or (
                                folders is not None and entry.folder_id not in folders):
                            continue
                        try:
                            folder = self.mailbox.folder(entry.name)
                        except NotFound:
                            continue
                        live.add(folder.id)
                        left = None if budget is None else budget - done
                        if left is not None and left <= 0:
                            break
                        done += self._sync_folder(conn, folder, known.get(folder.id),
                                                  progress, left)
                    if folders is None and budget is None:
                        for fid in set(known) - live:  # deleted folders
                            self._drop_folder(conn, fid)
                except sqlite3.DatabaseError as exc:
                    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                        raise
                    self.close()
                    self._discard_files()  # rebuilt at the next sync
                    raise CorruptStore(f"{self.path}: {exc}") from exc
        return done

    def indexed_through(self, folder_id: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last UID indexed) of a folder, None when it was never indexed. Every
        UID at or below the last one was indexed unless expunged (indexing follows UID order),
        so a reader checks newer messages itself."""
        with self._lock:
            row = self._connect().execute(
                "SELECT uidvalidity, last_uid FROM state WHERE folder = ?",
                (folder_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def _sync_folder(self, conn: sqlite3.Connection, folder: Folder,
                     state: tuple[int, int, int] | None,
                     progress: Callable[[int], None] | None, budget: int | None = None) -> int:
        def look(idx: Any) -> tuple[int, int, list[int], list[int] | None, list[int] | None]:
            uidvalidity, modseq = idx.uidvalidity, idx.highestmodseq
            if state is not None and state[0] == uidvalidity and state[1] == modseq:
                return uidvalidity, modseq, [], [], None
            last = state[2] if state is not None and state[0] == uidvalidity else 0
            new = idx.uids[bisect_right(idx.uids, last):].tolist()
            gone, everything = None, None
            if state is not None and state[0] == uidvalidity:
                gone = idx.vanished_since(state[1])
                if gone is None:  # tombstones gone: compare UID lists (below, off the lock)
                    everything = idx.uids.tolist()
            return uidvalidity, modseq, new, gone, everything

        uidvalidity, modseq, new, gone, everything = folder.read_index(look)
        if state is not None and state[0] == uidvalidity and state[1] == modseq:
            return 0
        if everything is not None:
            gone = sorted(set(_indexed(conn, folder.id)) - set(everything))
        fid = folder.id
        complete = budget is None or len(new) <= budget
        if not complete:
            new = new[:budget]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if state is None or state[0] != uidvalidity:
                self._delete_rows(conn, "folder = ?", (fid,))
                last = 0
            else:
                last = state[2]
                for start in range(0, len(gone or []), 500):
                    chunk = (gone or [])[start:start + 500]
                    marks = ",".join("?" * len(chunk))
                    self._delete_rows(conn, f"folder = ? AND uid IN ({marks})", (fid, *chunk))
            conn.execute("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?)",
                         (fid, uidvalidity, modseq if not new and complete else -1, last))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done = 0
        ids = _folder_ids(folder, uidvalidity)
        for start in range(0, len(new), BATCH):
            chunk = new[start:start + BATCH]
            docs = _documents(folder, chunk, ids)
            final = complete and start + BATCH >= len(new)
            conn.execute("BEGIN IMMEDIATE")
            try:
                # a row left by an older UIDVALIDITY's run cannot collide: those were deleted
                self._delete_rows(conn, "folder = ? AND uid >= ?", (fid, chunk[0]))
                for doc in docs:
                    cur = conn.execute(
                        "INSERT INTO docs (folder, uid, size, idate, att, thread) "
                        "VALUES (?, ?, ?, ?, ?, ?)", (fid, doc.uid, doc.size, doc.idate,
                                                      int(doc.att), doc.thread))
                    assert cur.lastrowid is not None  # set by every INSERT
                    _insert_fts(conn, cur.lastrowid, doc)
                conn.execute("UPDATE state SET last_uid = ?, modseq = ? WHERE folder = ?",
                             (chunk[-1], modseq if final else -1, fid))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            done += len(docs)
            if progress is not None:
                progress(done)
        return done

    @staticmethod
    def _delete_rows(conn: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> None:
        """Remove documents: their `docs` rows only (see "Size" above)."""
        conn.execute(f"DELETE FROM docs WHERE {where}", args)

    # -- garbage -----------------------------------------------------------------------------
    def garbage(self) -> tuple[int, int]:
        """(FTS5 rows whose document is gone, live documents)."""
        with self._lock:
            conn = self._connect()
            total = conn.execute("SELECT count(*) FROM fts_docsize").fetchone()[0]
            live = conn.execute("SELECT count(*) FROM docs").fetchone()[0]
        return total - live, live

    def needs_compaction(self) -> bool:
        dead, live = self.garbage()
        return dead >= COMPACT_MIN and dead > live

    def compact(self) -> int:
        """Rebuild the FTS5 table from the live documents' messages in one transaction (the
        garbage of removed messages goes); returns the documents kept. Holds the writer lock
        throughout: use an instance of its own (`SearchIndex(mailbox)`) so this process's
        searches, which use the shared one, are not kept waiting."""
        with fsutil.locked(self.lock_path), self._lock:
            conn = self._connect()
            folders = {}
            for entry in self.mailbox.entries():
                if entry.folder_id is not None:
                    with contextlib.suppress(NotFound):
                        folders[entry.folder_id] = self.mailbox.folder(entry.name)
            rows = conn.execute("SELECT id, folder, uid FROM docs ORDER BY id").fetchall()
            ids = {fid: _folder_ids(f, f.uidvalidity) for fid, f in folders.items()}
            kept = 0
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DROP TABLE fts")
                conn.execute(f"CREATE VIRTUAL TABLE fts USING {_FTS}")
                conn.execute(_FTS_SETTINGS)
                for rowid, fid, uid in rows:
                    folder = folders.get(fid)
                    doc = None if folder is None else next(
                        iter(_documents(folder, [uid], ids[fid])), None)
                    if doc is None:  # gone since: the next sync would drop it anyway
                        conn.execute("DELETE FROM docs WHERE id = ?", (rowid,))
                        continue
                    _insert_fts(conn, rowid, doc)
                    kept += 1
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return kept

    def _drop_folder(self, conn: sqlite3.Connection, fid: str) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._delete_rows(conn, "folder = ?", (fid,))
            conn.execute("DELETE FROM state WHERE folder = ?", (fid,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- searching ---------------------------------------------------------------------------
    def search(self, match: str | None, *, folders: list[str], limit: int,
               accept: Callable[[Hit], bool] = lambda hit: True,
               before_row: int | None = None, has_attachment: bool | None = None,
               after: int | None = None, before: int | None = None,
               larger: int | None = None, smaller: int | None = None) -> tuple[list[Hit], bool]:
        """Up to `limit` matching messages of `folders` (ids) that `accept` takes, newest
        indexed first, from `before_row` on; and whether more may follow. Rows are read
        lazily, so a page costs its own matches, not the total. ValueError for an FTS5
        expression SQLite refuses."""
        if not folders:
            return [], False
        where = [f"d.folder IN ({','.join('?' * len(folders))})"]
        args: list[Any] = list(folders)
        for clause, value in (("d.id < ?", before_row), ("d.idate >= ?", after),
                              ("d.idate < ?", before), ("d.size > ?", larger),
                              ("d.size < ?", smaller)):
            if value is not None:
                where.append(clause)
                args.append(value)
        if has_attachment is not None:
            where.append("d.att = ?")
            args.append(int(has_attachment))
        if match is not None:
            sql = ("SELECT d.id, d.folder, d.uid FROM fts JOIN docs d ON d.id = fts.rowid "
                   f"WHERE fts MATCH ? AND {' AND '.join(where)} ORDER BY fts.rowid DESC")
            args.insert(0, match)
        else:
            sql = (f"SELECT d.id, d.folder, d.uid FROM docs d WHERE {' AND '.join(where)} "
                   "ORDER BY d.id DESC")
        hits: list[Hit] = []
        with self._lock:
            conn = self._connect()
            try:
                cursor = conn.execute(sql, args)
                while rows := cursor.fetchmany(64):
                    for row in rows:
                        hit = Hit(row[0], row[1], row[2])
                        if not accept(hit):
                            continue
                        if len(hits) == limit:
                            cursor.close()
                            return hits, True
                        hits.append(hit)
            except sqlite3.OperationalError as exc:
                if "fts5" in str(exc) or "syntax" in str(exc):
                    raise ValueError(f"search expression not understood: {exc}") from None
                raise
        return hits, False


    def find(self, query: SearchQuery, folders: Mapping[str, Folder], *, limit: int,
             before_row: int | None = None
             ) -> tuple[list[tuple[Hit, MessageRecord]], bool]:
        """A parsed search box query (`rmail.mail.searchquery`) over `folders` (id -> Folder):
        up to `limit` hits with each message's current record, newest indexed first, and
        whether more may follow. Hits whose message is gone are skipped, and `is:unread` /
        `is:flagged` are answered from the folder's own index (flags are never indexed here),
        so they are as fresh as the folder. ValueError for an expression SQLite refuses."""
        records: dict[tuple[str, int], MessageRecord] = {}

        def accept(hit: Hit) -> bool:
            folder = folders.get(hit.folder_id)
            if folder is None:
                return False
            try:
                rec = folder.record(hit.uid)
            except NotFound:  # expunged since the last sync
                return False
            if query.unread is not None and (SEEN not in rec.flags) != query.unread:
                return False
            if query.flagged is not None and (FLAGGED not in rec.flags) == query.flagged:
                return False
            records[(hit.folder_id, hit.uid)] = rec
            return True

        hits, more = self.search(
            fts_expression(query), folders=list(folders), limit=limit, accept=accept,
            before_row=before_row, has_attachment=query.has_attachment, after=query.after,
            before=query.before, larger=query.larger, smaller=query.smaller)
        return [(hit, records[(hit.folder_id, hit.uid)]) for hit in hits], more

    def folder_matches(self, folder_id: str, match: str) -> set[int]:
        """UIDs of a folder's indexed messages that match an FTS5 expression (IMAP SEARCH
        BODY/TEXT). ValueError for an expression SQLite refuses."""
        with self._lock:
            try:
                return {row[0] for row in self._connect().execute(
                    # CROSS JOIN: the doclist first; else the planner walks the folder's
                    # rows and evaluates the MATCH once per row
                    "SELECT d.uid FROM fts CROSS JOIN docs d ON d.id = fts.rowid "
                    "WHERE fts MATCH ? AND d.folder = ?", (match, folder_id))}
            except sqlite3.OperationalError as exc:
                if "fts5" in str(exc) or "syntax" in str(exc):
                    raise ValueError(f"search expression not understood: {exc}") from None
                raise

    def thread(self, thread: str, *, folders: list[str], limit: int) -> list[Hit]:
        """The indexed messages of a thread (oldest indexed first), in `folders`."""
        if not folders:
            return []
        marks = ",".join("?" * len(folders))
        with self._lock:
            rows = self._connect().execute(
                f"SELECT id, folder, uid FROM docs WHERE thread = ? AND folder IN ({marks}) "
                "ORDER BY id LIMIT ?", (thread, *folders, limit)).fetchall()
        return [Hit(*row) for row in rows]


@contextlib.contextmanager
def _index_lock(path: str, wait: bool | float) -> Iterator[bool]:
    """The index's writer lock (`search.lock`, flock: workers and the CLI take turns); with
    ``wait=False`` yields False at once when it is held, with seconds as long as that."""
    if wait is True:
        with fsutil.locked(path):
            yield True
        return
    deadline = time.monotonic() + float(wait)
    while True:
        with fsutil.try_locked(path) as got:
            if got or time.monotonic() >= deadline:
                yield got
                return
        time.sleep(0.01)


def _insert_fts(conn: sqlite3.Connection, rowid: int, doc: _Doc) -> None:
    conn.execute("INSERT INTO fts (rowid, sender, recipients, subject, body) "
                 "VALUES (?, ?, ?, ?, ?)", (rowid, *doc.fields))


def _indexed(conn: sqlite3.Connection, fid: str) -> list[int]:
    return [r[0] for r in conn.execute("SELECT uid FROM docs WHERE folder = ?", (fid,))]


class _FolderIds(NamedTuple):
    """What every document of a folder shares, computed once per folder, not per message."""

    scope: str  # the account, which scopes thread ids
    mailbox_id: str  # of the UIDVALIDITY being indexed (a thread's fallback id names it)


def _folder_ids(folder: Folder, uidvalidity: int) -> _FolderIds:
    owner = folder.owner
    return _FolderIds(f"{owner.domain}\0{owner.username}", Folder.make_mailbox_id(
        owner.domain, owner.username, folder.id, uidvalidity))


def _documents(folder: Folder, uids: list[int], ids: _FolderIds) -> list[_Doc]:
    """The documents of the messages `uids` that still exist. The records are read in one
    look at the folder's index (one `stat`, not one per message), and the message file is
    opened by its string path: per message this costs the meta and message reads, the text
    extraction and little else; the message file is read with three system calls
    (`fsutil.read_file`)."""
    records = folder.read_index(lambda idx: [idx.record(uid) for uid in uids])
    msg_file = folder.layout.msg_file
    docs = []
    for rec in records:
        if rec is None:  # expunged meanwhile
            continue
        uid = rec.uid
        try:
            meta = folder.meta(uid)
            raw = fsutil.read_file(msg_file(uid), rec.size)
        except (FileNotFoundError, NotFound, CorruptStore):
            continue  # expunged meanwhile, or unreadable: `rmail check` reports it
        text = index_text(raw, meta)
        summary = meta.get("summary") or {}
        thread = thread_id(ids.scope, summary, f"{ids.mailbox_id}/{uid}")
        docs.append(_Doc(uid, rec.size, rec.internaldate, bool(summary.get("has_attachments")),
                         thread, (text.sender, text.recipients, text.subject, text.body)))
    return docs


_INDEXES: dict[tuple[int, str, str], SearchIndex] = {}
_INDEXES_LOCK = threading.Lock()


def search_index(mailbox: UserMailbox) -> SearchIndex:
    """The process's index object of a user (one SQLite connection per user and process)."""
    key = (id(mailbox.store), mailbox.domain, mailbox.username)
    with _INDEXES_LOCK:
        found = _INDEXES.get(key)
        if found is None or found.mailbox is not mailbox:
            found = _INDEXES[key] = SearchIndex(mailbox)
        return found


def reindex_all(mail_root: str | os.PathLike[str]) -> int:
    """Rebuild every user's index (`rmail check --reindex`); safe while the server runs (the
    index lock makes its workers wait). Returns the messages indexed."""
    from rmail.store.accounts import Accounts
    from rmail.store.mailbox import MailStore

    accounts, store, total = Accounts(mail_root), MailStore(mail_root), 0
    for domain in accounts.domains():
        for account in accounts.users(domain):
            try:
                mailbox = store.mailbox(domain, account.username)
            except NotFound:  # a user without mail yet
                continue
            index = SearchIndex(mailbox)
            try:
                total += index.reindex()
            finally:
                index.close()
    return total
