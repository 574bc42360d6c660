"""The search index's storage (`rmail.store.searchindex`): contentless FTS5 rows leave the
inverted index itself on expunge, budgets and the non-waiting catch-up, and an index of an
older layout is rebuilt."""

from __future__ import annotations

import sqlite3

from rmail.store.fsutil import locked
from rmail.store.mailbox import Folder, UserMailbox
from rmail.store.searchindex import COMPACT_MIN, VERSION, SearchIndex
from tests.store.conftest import message


def fts_count(index: SearchIndex, word: str) -> int:
    """Matches in the FTS5 table alone (no join with the documents)."""
    conn = sqlite3.connect(index.path)
    try:
        return int(conn.execute("SELECT count(*) FROM fts WHERE fts MATCH ?",
                                (word,)).fetchone()[0])
    finally:
        conn.close()


def test_expunged_messages_are_garbage_until_compaction(mailbox: UserMailbox,
                                                        inbox: Folder) -> None:
    uids = [r.uid for r in inbox.append_many(
        [(message(i, b"ocelot number %d" % i), (), None) for i in range(40)])]
    index = SearchIndex(mailbox)
    try:
        assert index.sync() == 40
        inbox.expunge(uids[:30])
        assert index.sync() == 0
        assert fts_count(index, "ocelot") == 40  # contentless: the entries stay ...
        hits, more = index.search('"ocelot"', folders=[inbox.id], limit=100)
        assert sorted(h.uid for h in hits) == uids[30:] and not more  # ... but never match
        assert index.garbage() == (30, 10)
        # a new message never inherits a removed one's entries (ids are not reused)
        late = inbox.append(message(99, b"pelican")).uid
        assert index.sync() == 1
        assert [h.uid for h in index.search('"ocelot"', folders=[inbox.id], limit=100)[0]
                ] == uids[:29:-1]
        assert [h.uid for h in index.search('"pelican"', folders=[inbox.id], limit=9)[0]
                ] == [late]
        assert index.compact() == 11
        assert index.garbage() == (0, 11)
        assert _automerge(index.path) == 16  # the rebuilt table keeps the merge setting
        assert fts_count(index, "ocelot") == 10
        conn = sqlite3.connect(index.path)
        conn.execute("INSERT INTO fts (fts) VALUES ('integrity-check')")  # raises if damaged
        conn.close()
        # a phrase still keeps its order without a stored copy of the text
        assert index.search('"number 33"', folders=[inbox.id], limit=10)[0]
        assert not index.search('"33 number"', folders=[inbox.id], limit=10)[0]
    finally:
        index.close()


def test_compaction_threshold(mailbox: UserMailbox, inbox: Folder) -> None:
    inbox.append_many([(message(i), (), None) for i in range(COMPACT_MIN + 2)])
    index = SearchIndex(mailbox)
    try:
        index.sync()
        inbox.expunge(inbox.uids()[:COMPACT_MIN // 2])
        index.sync()
        assert not index.needs_compaction()  # less garbage than live documents
        inbox.expunge(inbox.uids()[:COMPACT_MIN // 2 + 1])
        index.sync()
        assert index.needs_compaction()
    finally:
        index.close()


def test_budget_and_busy_lock(mailbox: UserMailbox, inbox: Folder) -> None:
    for i in range(5):
        inbox.append(message(i, b"heron"))
    index = SearchIndex(mailbox)
    try:
        assert index.sync(budget=2) == 2
        assert index.indexed_through(inbox.id) == (inbox.uidvalidity, 2)
        with locked(index.lock_path):  # the indexer at work: a search does not wait
            assert index.sync(budget=2, wait=False) is None
            assert index.sync(budget=2, wait=0.05) is None
        assert index.sync(budget=2, wait=False) == 2
        assert index.sync() == 1
        assert len(index.search('"heron"', folders=[inbox.id], limit=10)[0]) == 5
    finally:
        index.close()


def _automerge(path: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT v FROM fts_config WHERE k = 'automerge'").fetchone()[0])
    finally:
        conn.close()


def test_version_4_index_gets_the_merge_setting_in_place(mailbox: UserMailbox,
                                                           inbox: Folder) -> None:
    """Version 5 only changed FTS5's merge setting: a version 4 index keeps its documents."""
    inbox.append(message(1, b"quokka"))
    index = SearchIndex(mailbox)
    try:
        assert index.sync() == 1
        assert _automerge(index.path) == 16
    finally:
        index.close()
    conn = sqlite3.connect(index.path)
    conn.executescript("INSERT INTO fts (fts, rank) VALUES ('automerge', 4);"
                       "PRAGMA user_version = 4;")
    conn.close()
    again = SearchIndex(mailbox)
    try:
        assert again.sync() == 0  # nothing indexed again
        assert len(again.search('"quokka"', folders=[inbox.id], limit=10)[0]) == 1
        assert _automerge(again.path) == 16
        conn = sqlite3.connect(again.path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == VERSION
        conn.close()
    finally:
        again.close()


def test_older_layout_is_rebuilt(mailbox: UserMailbox, inbox: Folder) -> None:
    inbox.append(message(1, b"quokka"))
    index = SearchIndex(mailbox)
    path = index.path
    mailbox.layout.dir.mkdir(parents=True, exist_ok=True)
    old = sqlite3.connect(path)
    old.executescript("PRAGMA user_version = 2; CREATE TABLE state (folder TEXT);"
                      "CREATE VIRTUAL TABLE fts USING fts5(body);")
    old.close()
    try:
        assert index.sync() == 1
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == VERSION
        conn.close()
        assert len(index.search('"quokka"', folders=[inbox.id], limit=10)[0]) == 1
    finally:
        index.close()
