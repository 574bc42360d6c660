"""In-process change hub: IMAP IDLE, POP3, the SSE stream and webmail subscribe to it.

The store publishes after a change is committed (journal fsynced), from whatever thread did
the write; subscribers live on event loops and receive events through `call_soon_threadsafe`.
Events only say *that* something changed (folder, modseq, kind); a subscriber catches up by
reading the index, so a dropped or coalesced event never loses information. Changes made by
the CLI are not published; sessions see them on their next refresh. In a multi-process server
`forward` carries each change published here to the other processes (`rmail.bus`), which hand
it to their subscribers with `publish_local`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change. `kind` is e.g. "append", "flags", "expunge", "folders"."""

    domain: str
    username: str
    kind: str
    folder_id: str | None = None
    modseq: int = 0
    uids: tuple[int, ...] = ()


Listener = Callable[[Change], None]
Key = tuple[str, str]  # (domain, username)
# `EventBus.interest`: (key, True, monotonic time of the subscription) when a key gains its
# first subscriber, (key, False, time) when it loses its last one.
Interest = Callable[[Key, bool, float], None]


class Subscription:
    """A queue of changes for one user, consumed on the subscriber's loop."""

    def __init__(self, bus: EventBus, key: tuple[str, str], loop: asyncio.AbstractEventLoop,
                 maxsize: int) -> None:
        self._bus = bus
        self.key = key
        self.loop = loop
        self.queue: asyncio.Queue[Change] = asyncio.Queue(maxsize)
        self.overflowed = False
        self._waiter: asyncio.Future[None] | None = None  # `get` waiting

    def _deliver(self, change: Change) -> None:
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.overflowed = True  # the reader must resync from the index
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self, timeout: float | None = None) -> Change | None:
        """The next change, or None after `timeout` seconds (or when the queue overflowed
        meanwhile). A bare future and one timer, not `wait_for` (a task per call before
        Python 3.12) nor `asyncio.timeout` over `Queue.get`: a change reaching a thousand
        update streams pays this a thousand times."""
        if self.queue.empty():
            waiter = self._waiter = self.loop.create_future()
            timer = None if timeout is None else self.loop.call_later(
                timeout, _wake, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        return None if self.queue.empty() else self.queue.get_nowait()

    def close(self) -> None:
        self._bus._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Publish/subscribe keyed by (domain, username)."""

    def __init__(self) -> None:
        self._subs: dict[tuple[str, str], set[Subscription]] = {}
        self._lock = threading.Lock()
        # Set by `rmail.bus` in a multi-process server: called (from any thread) with every
        # change committed in this process, to reach the other processes' subscribers.
        self.forward: Listener | None = None
        # Process-wide listeners of every user's changes, called from the publishing thread
        # (the search indexer, a server singleton, `rmail.scheduling.indexer`). Must not block.
        self.taps: list[Listener] = []
        # Set by `rmail.bus` in a worker: called, under this bus's lock (so the calls of one
        # key keep their order), when a key gains its first subscriber or loses its last.
        # Must not block.
        self.interest: Interest | None = None

    def subscribe(self, domain: str, username: str, *, maxsize: int = 1000) -> Subscription:
        """Subscribe from a coroutine (the running loop receives the changes)."""
        sub = Subscription(self, (domain, username), asyncio.get_running_loop(), maxsize)
        since = time.monotonic()  # before it counts: a change from here on must reach it
        with self._lock:
            subs = self._subs.get(sub.key)
            if subs is None:
                subs = self._subs[sub.key] = set()
                self._announce(sub.key, True, since)
            subs.add(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.key)
            if subs and sub in subs:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.key]
                    self._announce(sub.key, False, time.monotonic())

    def _announce(self, key: Key, on: bool, when: float) -> None:
        interest = self.interest
        if interest is not None:
            with contextlib.suppress(Exception):  # a hint: never fail a subscriber
                interest(key, on, when)

    def followed(self) -> list[Key]:
        """The keys with a subscriber in this process now."""
        with self._lock:
            return list(self._subs)

    def publish(self, change: Change) -> None:
        """Thread-safe; never blocks and never raises: the store publishes after a commit, so
        a failure here must not turn an acknowledged write into an error."""
        forward = self.forward
        if forward is not None:
            # A hint lost is harmless: subscribers elsewhere catch up at their next refresh.
            with contextlib.suppress(Exception):
                forward(change)
        self.publish_local(change)

    def publish_local(self, change: Change) -> None:
        """Deliver to this process's subscribers only (a change that came over the bus)."""
        for tap in self.taps:
            with contextlib.suppress(Exception):  # a hint: never fail the publisher
                tap(change)
        with self._lock:
            subs = list(self._subs.get((change.domain, change.username), ()))
        if not subs:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        # One hand-over per event loop, not per subscriber: each `call_soon_threadsafe`
        # wakes the loop through its self-pipe (a thousand update streams of one account
        # were a thousand writes from the delivering thread).
        by_loop: dict[asyncio.AbstractEventLoop, list[Subscription]] = {}
        for sub in subs:
            by_loop.setdefault(sub.loop, []).append(sub)
        for loop, group in by_loop.items():
            if loop is running:
                _deliver_all(group, change)
                continue
            try:
                loop.call_soon_threadsafe(_deliver_all, group, change)
            except RuntimeError:  # the subscribers' loop is closed (or closing right now)
                for sub in group:
                    self._remove(sub)

    def subscriber_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())


def _deliver_all(subs: list[Subscription], change: Change) -> None:
    for sub in subs:
        sub._deliver(change)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
