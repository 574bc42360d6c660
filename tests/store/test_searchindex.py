"""The search index's storage (`rmail.store.searchindex`): contentless FTS5 rows leave the
inverted index itself on expunge, budgets and the non-waiting catch-up, and an index of an
older layout is rebuilt."""

from __future__ import annotations

import sqlite3

from rmail.store.fsutil import locked
from rmail.store.mailbox import Folder, UserMailbox
from rmail.store.searchindex import VERSION, SearchIndex
from tests.store.conftest import message


def fts_count(index: SearchIndex, word: str) -> int:
    """Matches in the FTS5 table alone (no join with the documents)."""
    conn = sqlite3.connect(index.path)
    try:
        return int(conn.execute("SELECT count(*) FROM fts WHERE fts MATCH ?",
                                (word,)).fetchone()[0])
    finally:
        conn.close()


def test_expunged_text_leaves_the_inverted_index(mailbox: UserMailbox, inbox: Folder) -> None:
    uids = [inbox.append(message(i, b"ocelot number %d" % i)).uid for i in range(4)]
    index = SearchIndex(mailbox)
    try:
        assert index.sync() == 4
        assert fts_count(index, "ocelot") == 4
        inbox.expunge(uids[:3])
        assert index.sync() == 0
        assert fts_count(index, "ocelot") == 1
        hits, more = index.search('"ocelot"', folders=[inbox.id], limit=10)
        assert [h.uid for h in hits] == [uids[3]] and not more
        conn = sqlite3.connect(index.path)
        conn.execute("INSERT INTO fts (fts) VALUES ('integrity-check')")  # raises if damaged
        assert conn.execute("SELECT count(*) FROM texts").fetchone()[0] == 1
        conn.close()
        # a phrase still keeps its order without a stored copy of the text
        assert index.search('"number 3"', folders=[inbox.id], limit=10)[0]
        assert not index.search('"3 number"', folders=[inbox.id], limit=10)[0]
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
        assert index.sync(budget=2, wait=False) == 2
        assert index.sync() == 1
        assert len(index.search('"heron"', folders=[inbox.id], limit=10)[0]) == 5
    finally:
        index.close()


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
