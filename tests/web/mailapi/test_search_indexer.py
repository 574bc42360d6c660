"""The search index follows the change bus: mail delivered over SMTP is indexed by the server's
indexer (a singleton in the single process or the supervisor), not by the search that finds it;
expunges and moves reach the index the same way. Observed through the index database itself
(its rows), never through timing."""

from __future__ import annotations

import asyncio
import smtplib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from rmail.store.searchindex import search_index
from tests.web.conftest import DOMAIN, Api, MakeApi
from tests.web.mailapi.helpers import message
from tests.web.mailapi.test_search import search

WAIT = 30.0


def indexed(api: Api, user: str = "alice") -> dict[str, set[int]]:
    """folder id -> UIDs in the user's index, read with a connection of our own. A database
    that is busy or not created yet reads as empty: the caller asks again."""
    path = api.config.mail_root / f"domains/{DOMAIN}/users/{user}/mail/search.sqlite"
    if not Path(path).exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    try:
        out: dict[str, set[int]] = {}
        for folder, uid in conn.execute("SELECT folder, uid FROM docs"):
            out.setdefault(folder, set()).add(uid)
        return out
    except sqlite3.OperationalError:  # not created yet, or busy
        return {}
    finally:
        conn.close()


async def until(check: Callable[[], bool], what: str | Callable[[], str],
                wait: float = WAIT) -> None:
    """Poll `check` on a thread: the server under test shares this event loop, so a check
    that waits on the index's lock must not stop the server (the indexer's own work) while
    it waits (a CI run once spent the whole wait inside one blocked check)."""
    deadline = time.monotonic() + wait
    while not await asyncio.to_thread(check):
        if time.monotonic() >= deadline:
            raise AssertionError(f"index never showed: {what if isinstance(what, str) else what()}")
        await asyncio.sleep(0.05)


def send(api: Api, port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.sendmail("carol@remote.test", [f"alice@{DOMAIN}"], raw) == {}


async def test_delivery_is_indexed_by_the_indexer(make_api: MakeApi) -> None:
    api = await make_api(listeners={"smtp": {"enabled": True, "port": 0}})
    assert api.server is not None
    smtp_port = api.server.addresses["smtp"][1]
    mailbox = api.services.mail.mailbox(DOMAIN, "alice")
    for i in range(3):
        await asyncio.to_thread(send, api, smtp_port,
                                message(f"Harbour note {i}", "the pelican arrives\n"))
    inbox = mailbox.folder("INBOX")
    uids = set(inbox.uids())
    assert len(uids) == 3
    # Nobody searched: only the indexer can have put them there.
    await until(lambda: indexed(api).get(inbox.id, set()) >= uids, "three deliveries")
    assert sorted(await search(api, "pelican")) == [f"Harbour note {i}" for i in range(3)]

    # An expunge and a move reach the index without a search.
    archive = mailbox.folder("Archive")
    first, second = sorted(uids)[:2]
    inbox.expunge([first])
    inbox.move([second], archive)
    await until(lambda: indexed(api).get(inbox.id, set()) == uids - {first, second}
                and len(indexed(api).get(archive.id, set())) == 1, "expunge and move")
    assert sorted(await search(api, "pelican")) == ["Harbour note 1", "Harbour note 2"]

    # A deleted folder's entries leave with it.
    mailbox.delete_folder("Archive")
    await until(lambda: archive.id not in indexed(api), "folder deletion")


async def test_search_catches_up_on_missed_events(api: Api) -> None:
    """Events are hints: changes no event announced (the CLI is off the bus) are found by the
    search's own bounded catch-up."""
    from rmail.store.mailbox import MailStore

    offline = MailStore(api.config.mail_root)  # publishes to no bus, like the CLI
    folder = offline.mailbox(DOMAIN, "alice").folder("INBOX")
    for i in range(5):
        folder.append(message(f"Quiet {i}", "unannounced walrus\n"))
    assert len(await search(api, "walrus")) == 5
    index = search_index(api.services.mail.mailbox(DOMAIN, "alice"))
    assert index.indexed_through(folder.id) == (folder.uidvalidity, max(folder.uids()))



async def test_indexer_compacts_after_mass_expunge(api: Api) -> None:
    """Removed messages leave garbage in the contentless FTS5 table; once it outnumbers the
    live documents the indexer rebuilds the table (searches answer throughout)."""
    from rmail.store.searchindex import COMPACT_MIN, SearchIndex

    mailbox = api.services.mail.mailbox(DOMAIN, "alice")
    inbox = mailbox.folder("INBOX")
    count = COMPACT_MIN + 100
    await asyncio.to_thread(inbox.append_many, [
        (message(f"Bulk {i}", f"bulk tapir {i}\n"), (), None) for i in range(count)])
    # A generous wait: under a loaded full suite the indexer (resting between backlog batches)
    # once needed more than 30 s here; a lost change would still fail, with the indexer's state.
    await until(lambda: len(indexed(api).get(inbox.id, set())) == count,
                lambda: f"the bulk ({len(indexed(api).get(inbox.id, set()))} of {count} indexed; "
                        f"indexer runs {api.services.indexer.runs}, "
                        f"messages {api.services.indexer.indexed})", wait=120)
    gone = inbox.uids()[:COMPACT_MIN + 50]
    await asyncio.to_thread(inbox.expunge, gone)
    probe = SearchIndex(mailbox)  # a connection of our own, not the server's
    try:
        def compacted() -> bool:
            probe.close()
            return probe.garbage() == (0, 50)

        await until(compacted, "compaction")
    finally:
        probe.close()
    assert len(await search(api, "tapir", limit="100")) == 50
