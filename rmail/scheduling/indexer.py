"""The search indexer: a server singleton (`Services.start(singletons=True)`, so in the single
process or in the supervisor, never in a worker) that keeps every user's full-text index
(`rmail.store.searchindex`) in step with the mail as it changes, off every acknowledgement path.

It taps the change bus (`EventBus.taps`): the supervisor's bus hears every worker's changes, a
single process hears its own. An append, expunge or move names its folder; a folder-list change
(create, rename, delete) asks for a full sync of the user. Changes are collected while a run is
busy and for `delay` seconds after the first, so a burst of deliveries is indexed in batches of
`SearchIndex.BATCH` per transaction, not one transaction per message. When a user's removed
messages outnumber the live ones in the index, the indexer rebuilds it (`SearchIndex.compact`).
Flag changes are ignored: `is:unread`/`is:flagged` are answered from the folders' own
indexes, never from this one.

At start every user is caught up once (what changed while no server ran, or an index of an
older layout being rebuilt), a batch per lock hold. Events are hints: a lost one leaves the
index behind until the next change of that folder or the next search, whose cheap catch-up
(`SearchIndex.sync(budget=CATCHUP)`) indexes a few messages itself; IMAP SEARCH reads what
the index has not reached. The folders' indexes stay the truth.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rmail.store.errors import CorruptStore, NotFound
from rmail.store.events import Change, EventBus
from rmail.store.mailbox import MailStore
from rmail.store.searchindex import BATCH, SearchIndex, search_index

__all__ = ["SearchIndexer"]

log = logging.getLogger("rmail.indexer")

KINDS = frozenset({"append", "expunge", "folders"})
ALL = None  # a user's pending set meaning "every folder"
BACKLOG_PAUSE = 1.0  # longest rest between two full batches, seconds
MAX_OPEN = 32  # users whose index connection stays open between runs


class SearchIndexer:
    """Collects changed (user, folder) pairs from the bus and indexes them on the store's
    threads, one user at a time."""

    def __init__(self, mail: MailStore, events: EventBus, *,
                 run: Callable[..., Awaitable[Any]], delay: float = 0.25,
                 users: Callable[[], list[tuple[str, str]]] | None = None) -> None:
        self.mail = mail
        self.users = users  # every (domain, username): caught up once at start
        self.events = events
        self.delay = delay
        self._run = run  # `Services.run`
        self._pending: dict[tuple[str, str], set[str] | None] = {}
        self._open: dict[int, SearchIndex] = {}  # by id(), least recently indexed first
        self._guard = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self.indexed = 0  # messages indexed since start (for tests and /healthz readers)
        self.runs = 0

    def tap(self, change: Change) -> None:
        """Called from any thread for every change published in this process."""
        if change.kind not in KINDS:
            return
        key = (change.domain, change.username)
        with self._guard:
            if change.kind == "folders" or change.folder_id is None:
                self._pending[key] = ALL
            elif key not in self._pending:
                self._pending[key] = {change.folder_id}
            else:
                folders = self._pending[key]
                if folders is not ALL:
                    folders.add(change.folder_id)
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                wake.set()
            else:
                try:
                    loop.call_soon_threadsafe(wake.set)
                except RuntimeError:  # the loop is closing: the next start catches up
                    pass

    def _take(self) -> dict[tuple[str, str], set[str] | None]:
        with self._guard:
            pending, self._pending = self._pending, {}
        return pending

    def index_user(self, domain: str, username: str, folders: set[str] | None) -> int:
        """Bring one user's index up to date (blocking: on a store thread)."""
        try:
            mailbox = self.mail.mailbox(domain, username)
        except NotFound:  # the account is gone
            return 0
        index = search_index(mailbox)
        done = 0
        try:
            if not mailbox.layout.dir.is_dir():  # no mail yet: nothing to index, no file made
                return 0
            # A batch per lock hold: a search's catch-up waits for one batch, not the burst.
            while True:
                started = time.monotonic()
                got = index.sync(folders=folders, budget=BATCH) or 0
                done += got
                if got < BATCH:
                    break
                # A backlog (the first pass after start, a mass import): rest as long as the
                # batch took, so indexing never takes more than half a core, and in a single
                # process leaves the event loop the interpreter half the time.
                time.sleep(min(BACKLOG_PAUSE, time.monotonic() - started))
            if folders is ALL:
                index.sync()  # drops the entries of deleted folders
            if index.needs_compaction():  # removed messages' entries outnumber the live ones
                own = SearchIndex(mailbox)  # its own lock and connection: searches go on
                try:
                    kept = own.compact()
                finally:
                    own.close()
                log.info("search index of %s@%s compacted (%d messages)", username, domain,
                         kept)
        except NotFound:  # the account was deleted meanwhile
            return done
        except CorruptStore as exc:  # the damaged database was dropped: redo from scratch
            log.warning("search index of %s@%s rebuilt: %s", username, domain, exc)
            done += index.sync() or 0
        finally:
            self._keep_open(index)
        return done

    def _keep_open(self, index: SearchIndex) -> None:
        """Keep the connections of the `MAX_OPEN` users indexed last: closing a WAL database
        checkpoints it (tens of milliseconds), too dear after every delivery, but a server of
        many users must not hold a database open for each."""
        with self._guard:
            self._open.pop(id(index), None)
            self._open[id(index)] = index
            extra = len(self._open) - MAX_OPEN
            old = [self._open.pop(next(iter(self._open))) for _ in range(max(0, extra))]
        for gone in old:
            gone.close()

    async def run_once(self) -> int:
        done = 0
        for (domain, username), folders in self._take().items():
            try:
                done += await self._run(self.index_user, domain, username, folders)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("indexing %s@%s failed", username, domain)
        self.indexed += done
        self.runs += 1
        return done

    async def run_forever(self) -> None:
        """The singleton's loop (`Services.start` runs it as a task and cancels it)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.events.taps.append(self.tap)
        if self.users is not None:  # what changed while no indexer ran (or a new layout)
            try:
                everyone = await self._run(self.users)
            except Exception:
                log.exception("listing users to index failed")
                everyone = []
            with self._guard:
                for key in everyone:
                    self._pending.setdefault(key, ALL)
            if everyone:
                self._wake.set()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await asyncio.sleep(self.delay)  # let the rest of a burst arrive
                await self.run_once()
        finally:
            self.events.taps.remove(self.tap)
            self._loop = self._wake = None
