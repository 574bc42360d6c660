"""The change bus across the processes of one server: a star with the supervisor at its centre.

Each worker holds one end of a `socketpair` made by the supervisor when it started that worker
(no path on disk, nothing another user could connect to). Messages are newline-terminated JSON
objects with a type ``t``; the supervisor's `BusHub` applies what it receives to its own
process and forwards it to every other worker; a worker's `BusLink` sends what happens in its
process and applies what arrives. One hop through the supervisor costs well under a
millisecond, so a change reaches every subscriber in every process within 100 ms. Each
process reads its links with `_Lines`, a protocol that handles a message in the read that
completes it (about 25 us of CPU per message received here, a wake-up from `epoll` included;
35-40 us through a `StreamReader` and a task). Every committed delivery batch costs one such
read in the supervisor, and one in each other worker where someone follows its user.

What travels:

- ``change``: a store `Change` (delivery, APPEND, flags, expunge, folder list, calendar and
  drive writes). Events stay hints over the durable journals: a subscriber that misses one
  catches up from the index at its next refresh, so a lost message may delay a notification but
  never loses or reorders data. The supervisor applies every change (its search indexer taps
  them) but relays one only to the workers that follow its user:
- ``sub`` / ``unsub``: a user gained a first subscriber in a worker (an IMAP login, a webmail
  update stream) or lost its last (`EventBus.interest`). Without them every worker woke for
  every delivery batch of every other worker (about 25 us of CPU each) with nobody to tell.
  A ``sub`` carries the monotonic time of the subscription (one clock for every process of
  the machine); the supervisor keeps each user's change lines of the last `REPLAY_SECONDS`
  and replays those it received since then, so a change that crossed the ``sub`` on its way
  still reaches the new subscriber (which had subscribed before reading its state).
- ``followed``: the users that some process follows (the supervisor's own subscribers count),
  sent by the supervisor when a user gains a first or loses a last following process, and the
  whole set to a worker as it starts. A worker sends a change of a followed user at once; one
  of a user nobody follows is needed only by the supervisor's search indexer (which waits a
  quarter of a second for a burst anyway), so it waits for the worker's next tenth-of-a-second
  flush and travels with the others of that tenth in one write: an unwatched delivery burst
  costs no loop wake-up per batch in the worker (the hand-over from the committing thread) nor
  in the supervisor (the read).
- ``fail`` / ``ok``: a failed or successful login from an IP (`Lockout`), so an address locked
  out through one worker is locked out in all; ``rate``: HTTP requests per IP counted in the
  last tenth of a second (the rate limit's buckets drain in every process).
- ``lockstate``: the supervisor's lockout table, sent to a worker when it (re)starts.
- ``queue``: a worker spooled outbound mail; the supervisor's queue runner looks now.
- ``verified``: a worker verified a password (stored hash, keyed digest, seconds left); every
  other process takes it into its verification cache (`rmail.auth.passwords`), so a client is
  verified with argon2 once per server, not once per worker.
- ``ready`` / ``rss``: a worker finished starting; its resident memory (reported every 30 s),
  collected by the supervisor and broadcast as ``rsstable`` for `/healthz`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from rmail.auth import passwords
from rmail.store.events import Change, Key

if TYPE_CHECKING:
    from rmail.services import Services

__all__ = ["BusHub", "BusLink", "rss_bytes"]

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20  # a bus message is small; a longer line means a broken peer
RATE_FLUSH = 0.1  # seconds between rate-limit count broadcasts
RSS_EVERY = 30.0  # seconds between a worker's memory reports
REPLAY_SECONDS = 10.0  # how long the supervisor keeps a user's change lines for a late ``sub``
REPLAY_LINES = 16  # at most this many per user (one wakes a subscriber; it reads the index)
REPLAY_USERS = 4096  # and of this many users (a few MB at worst; one delivery to a list of
# ten thousand keeps the last 4096 recipients' lines, enough for the transit of a ``sub``)


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process (Linux `/proc`), 0 when unknown."""
    try:
        with open(f"/proc/{pid or 'self'}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def encode(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message) + b"\n"


def _change_message(change: Change) -> dict[str, Any]:
    return {"t": "change", "c": [change.domain, change.username, change.kind, change.folder_id,
                                 change.modseq, list(change.uids)]}


def _change_of(message: dict[str, Any]) -> Change:
    domain, username, kind, folder_id, modseq, uids = message["c"]
    return Change(domain, username, kind, folder_id, int(modseq), tuple(uids))


def _call_on(loop: asyncio.AbstractEventLoop | None, fn: Callable[..., None], *args: Any) -> None:
    """``fn(*args)`` on ``loop``: at once from its own thread, else handed over (thread-safe,
    never raises: the store calls it after a commit, and a hint lost is harmless)."""
    if loop is None or loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        fn(*args)
    else:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(fn, *args)


class _Peer:
    """Shared plumbing: apply a received message to this process's services."""

    def __init__(self, core: Services) -> None:
        self.core = core
        self.rss: dict[str, int] = {}  # worker index -> bytes (as last reported)
        object.__setattr__(core, "bus", self)  # Services is frozen; the link is set once

    def apply(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        core = self.core
        if kind == "change":
            core.events.publish_local(_change_of(message))
        elif kind == "fail":
            core.lockout.failure(message["ip"], propagate=False)
        elif kind == "ok":
            core.lockout.success(message["ip"], propagate=False)
        elif kind == "rate":
            core.lockout.consume_remote(message["r"])
        elif kind == "lockstate":
            core.lockout.import_state(message["s"])
        elif kind == "rsstable":
            self.rss = {str(k): int(v) for k, v in message["r"].items()}
        elif kind == "verified":
            passwords.remember(str(message["h"]), bytes.fromhex(message["d"]),
                               float(message["s"]))


class _Lines(asyncio.Protocol):
    """The reading side of a bus connection: newline-terminated JSON messages, each handled
    as soon as the read that completes it arrives (``handle(message, line)``; a malformed line
    is logged and skipped, a line over `MAX_LINE` closes the link). `done` resolves when the
    peer is gone.

    Straight from `data_received`, not a `StreamReader` read by a task: that woke a future
    and stepped a task in a further turn of the loop for every message, in the supervisor
    (every committed delivery batch of every worker) and in each worker it is relayed to."""

    def __init__(self, handle: Callable[[dict[str, Any], bytes], None]) -> None:
        self._handle = handle
        self._pending = b""  # the start of a line whose newline has not arrived yet
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._pending:
            data, self._pending = self._pending + data, b""
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0 or end - start > MAX_LINE:
                break
            self._one(data[start:end + 1])
            start = end + 1
        rest = data[start:]
        if len(rest) > MAX_LINE or (b"\n" in rest):  # a newline beyond the limit: too long
            log.error("bus: message longer than %d bytes; link closed", MAX_LINE)
            self._pending = b""
            if self.transport is not None:
                self.transport.close()
            return
        self._pending = rest

    def _one(self, line: bytes) -> None:
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.error("bus: malformed message skipped")
            return
        if isinstance(message, dict):
            try:
                self._handle(message, line)
            except Exception:
                log.exception("bus: error handling %r", message.get("t"))

    def eof_received(self) -> bool:
        return False  # the peer is gone: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _connect(sock: socket.socket, handle: Callable[[dict[str, Any], bytes], None]
                   ) -> tuple[asyncio.Transport, _Lines]:
    """Serve our end of a bus socketpair with `_Lines`."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_accepted_socket(lambda: _Lines(handle), sock=sock)
    return transport, protocol


async def _closed(transport: asyncio.Transport | None, protocol: _Lines | None) -> None:
    """Close a bus connection and wait until the loop has let it go."""
    if transport is not None:
        transport.close()
    if protocol is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(protocol.done)


class BusLink(_Peer):
    """A worker's end of the bus: hooks its `EventBus`, `Lockout` and queue to the hub."""

    def __init__(self, core: Services, sock: socket.socket, index: int) -> None:
        super().__init__(core)
        self.sock = sock
        self.index = index
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = asyncio.Event()
        self._transport: asyncio.Transport | None = None
        self._protocol: _Lines | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._followed: set[Key] = set()  # users some process follows (``followed``)
        self._deferred: list[bytes] = []  # change lines of unfollowed users, for the flush
        self._deferred_lock = threading.Lock()

    def apply(self, message: dict[str, Any]) -> None:
        if message.get("t") == "followed":
            keys = {(str(d), str(u)) for d, u in message["k"]}
            if message["on"]:
                self._followed |= keys
            else:
                self._followed -= keys
            return
        super().apply(message)

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._transport, self._protocol = await _connect(
            self.sock, lambda message, _line: self.apply(message))
        core = self.core
        core.events.forward = self._forward_change
        core.events.interest = self._forward_interest
        for key in core.events.followed():  # subscribed before the link: replay what is kept
            self._forward_interest(key, True, 0.0)
        core.lockout.forward = self._forward_lockout
        core.queue.on_spooled = lambda: self.send({"t": "queue"})
        passwords.forward = self._forward_verified
        self._tasks = [asyncio.create_task(self._receive(self._protocol),
                                           name="rmail-bus-receive"),
                       asyncio.create_task(self._flush_rates(), name="rmail-bus-rates")]

    async def _receive(self, protocol: _Lines) -> None:
        try:
            await asyncio.shield(protocol.done)
        finally:
            self.closed.set()  # the supervisor is gone: this worker stops too

    async def _flush_rates(self) -> None:
        next_rss = 0.0
        while True:
            await asyncio.sleep(RATE_FLUSH)
            if self._deferred:
                self._write(b"")  # the deferred change lines
            counts = self.core.lockout.take_local_counts()
            if counts:
                self.send({"t": "rate", "r": counts})
            now = time.monotonic()
            if now >= next_rss:
                next_rss = now + RSS_EVERY
                self.send({"t": "rss", "i": self.index, "rss": rss_bytes()})

    def _forward_change(self, change: Change) -> None:
        """From any thread: at once for a followed user, else with the next flush."""
        data = encode(_change_message(change))
        if (change.domain, change.username) in self._followed:
            _call_on(self.loop, self._write, data)
        else:
            with self._deferred_lock:
                self._deferred.append(data)

    def _forward_interest(self, key: Key, on: bool, since: float) -> None:
        if on:
            self.send({"t": "sub", "k": list(key), "s": since})
        else:
            self.send({"t": "unsub", "k": list(key)})

    def _forward_lockout(self, kind: str, ip: str) -> None:
        self.send({"t": kind, "ip": ip})

    def _forward_verified(self, stored_hash: str, digest: bytes, seconds: float) -> None:
        self.send({"t": "verified", "h": stored_hash, "d": digest.hex(), "s": seconds})

    def send(self, message: dict[str, Any]) -> None:
        """Thread-safe and never raises (the store calls it after a commit)."""
        _call_on(self.loop, self._write, encode(message))

    def _write(self, data: bytes) -> None:
        """On the loop: ``data`` after the deferred change lines (a user's changes keep
        their order)."""
        if self._deferred:
            with self._deferred_lock:
                deferred, self._deferred = self._deferred, []
            data = b"".join(deferred) + data
        transport = self._transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    async def close(self) -> None:
        core = self.core
        object.__setattr__(core, "bus", None)
        core.events.forward = None
        core.events.interest = None
        core.lockout.forward = None
        core.queue.on_spooled = None
        if passwords.forward == self._forward_verified:
            passwords.forward = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._write(b"")  # the last deferred change lines: the indexer needs them
        transport, protocol, self._transport = self._transport, self._protocol, None
        await _closed(transport, protocol)


class BusHub(_Peer):
    """The supervisor's centre of the bus: one connection per worker."""

    def __init__(self, core: Services) -> None:
        super().__init__(core)
        self._writers: dict[int, asyncio.Transport] = {}
        self._protocols: dict[int, _Lines] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._ready: dict[int, asyncio.Future[int]] = {}
        # worker index -> users followed there, each with its count of ``sub`` less ``unsub``
        # (a count, not a set: a pair that crossed on the way still sums right)
        # (index 0: the supervisor's own subscribers)
        self._follows: dict[int, dict[Key, int]] = {}
        self._followers: dict[Key, int] = {}  # user -> how many processes follow it
        # user -> (monotonic time received, line) of its recent changes, oldest user first
        self._recent: OrderedDict[Key, deque[tuple[float, bytes]]] = OrderedDict()
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None
        core.events.forward = self._forward_change  # changes made by the supervisor itself
        core.events.interest = self._own_interest
        for key in core.events.followed():
            self._own_interest(key, True, 0.0)
        core.lockout.forward = lambda kind, ip: self.broadcast({"t": kind, "ip": ip})

    async def attach(self, index: int, sock: socket.socket) -> asyncio.Future[int]:
        """Serve worker ``index`` on our end of its socketpair; the future gets its pid once it
        reports ready. A previous connection of the same index is dropped."""
        await self.detach(index)
        self.loop = asyncio.get_running_loop()
        writer, protocol = await _connect(sock, functools.partial(self._handle, index))
        self._writers[index] = writer
        self._protocols[index] = protocol
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._ready[index] = ready
        self._tasks[index] = asyncio.create_task(self._serve(protocol),
                                                 name=f"rmail-bus-worker-{index}")
        writer.write(encode({"t": "lockstate", "s": self.core.lockout.export_state()}))
        if self._followers:
            writer.write(encode({"t": "followed", "on": True,
                                 "k": [list(key) for key in self._followers]}))
        return ready

    async def _serve(self, protocol: _Lines) -> None:
        await asyncio.shield(protocol.done)  # until the worker's end closes

    def _handle(self, index: int, message: dict[str, Any], line: bytes) -> None:
        """A message from worker ``index``: kept here, or applied and relayed as received."""
        kind = message.get("t")
        if kind == "ready":
            self.rss[str(index)] = int(message.get("rss", 0))
            ready = self._ready.get(index)
            if ready is not None and not ready.done():
                ready.set_result(int(message["pid"]))
            self._broadcast_rss()
            return
        if kind == "rss":
            self.rss[str(index)] = int(message.get("rss", 0))
            self._broadcast_rss()
            return
        if kind == "queue":
            self.core.queue.poke()
            return
        if kind == "sub" or kind == "unsub":
            self._follow(index, message, kind == "sub")
            return
        self.apply(message)
        if kind == "change":
            change = message["c"]
            self._relay_change((str(change[0]), str(change[1])), line, but=index)
        else:
            self._send_all(line, but=index)

    def _follow(self, index: int, message: dict[str, Any], on: bool) -> None:
        """A worker's ``sub`` or ``unsub``; a ``sub`` gets the user's recent changes that
        arrived here since the subscription was made (they may have crossed it)."""
        domain, username = message["k"]
        key = (str(domain), str(username))
        self._count(index, key, on)
        if on:
            since = float(message.get("s", 0.0))
            writer = self._writers.get(index)
            if writer is not None and not writer.is_closing():
                for received, line in self._recent.get(key, ()):
                    if received >= since:
                        writer.write(line)

    def _count(self, index: int, key: Key, on: bool) -> None:
        """Count a ``sub`` or ``unsub`` of process ``index``; tell every worker when the user
        gains its first following process or loses its last."""
        follows = self._follows.setdefault(index, {})
        before = follows.get(key, 0) > 0
        count = follows.get(key, 0) + (1 if on else -1)
        if count:
            follows[key] = count
        else:
            follows.pop(key, None)
        if (count > 0) != before:
            self._followed(key, count > 0)

    def _followed(self, key: Key, on: bool) -> None:
        followers = self._followers.get(key, 0) + (1 if on else -1)
        if followers > 0:
            self._followers[key] = followers
        else:
            self._followers.pop(key, None)
        if followers == (1 if on else 0):
            self._send_all(encode({"t": "followed", "on": on, "k": [list(key)]}))

    def _own_interest(self, key: Key, on: bool, since: float) -> None:
        """The supervisor's own subscribers (from any thread): it applies every change, so
        it only needs the workers to send this user's changes at once."""
        _call_on(self.loop, self._count, 0, key, on)

    def _relay_change(self, key: Key, line: bytes, but: int | None = None) -> None:
        """On the loop: keep the line for a late ``sub`` and send it to the workers (but the
        one it came from) that follow its user."""
        now = time.monotonic()
        recent = self._recent
        kept = recent.get(key)
        if kept is None:
            kept = recent[key] = deque(maxlen=REPLAY_LINES)
        else:
            recent.move_to_end(key)
        kept.append((now, line))
        while recent:  # forget the users whose last change is older than the replay window
            oldest = next(iter(recent.values()))
            if oldest[-1][0] >= now - REPLAY_SECONDS and len(recent) <= REPLAY_USERS:
                break
            recent.popitem(last=False)
        for index, follows in self._follows.items():
            if index != but and follows.get(key, 0) > 0:
                writer = self._writers.get(index)
                if writer is not None and not writer.is_closing():
                    writer.write(line)

    def _broadcast_rss(self) -> None:
        self._send_all(encode({"t": "rsstable", "r": self.rss}))

    def _forward_change(self, change: Change) -> None:
        """A change made by the supervisor itself (from any thread)."""
        _call_on(self.loop, self._relay_change, (change.domain, change.username),
                 encode(_change_message(change)))

    def broadcast(self, message: dict[str, Any]) -> None:
        """Send to every worker; thread-safe (the supervisor's store publishes from threads)."""
        _call_on(self.loop, self._send_all, encode(message))

    def _send_all(self, data: bytes, but: int | None = None) -> None:
        for index, writer in list(self._writers.items()):
            if index != but and not writer.is_closing():
                writer.write(data)

    async def detach(self, index: int) -> None:
        self.rss.pop(str(index), None)
        for key, count in self._follows.pop(index, {}).items():
            if count > 0:
                self._followed(key, False)
        task = self._tasks.pop(index, None)
        writer = self._writers.pop(index, None)
        protocol = self._protocols.pop(index, None)
        ready = self._ready.pop(index, None)
        if ready is not None and not ready.done():
            ready.cancel()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await _closed(writer, protocol)

    async def close(self) -> None:
        for index in list(self._tasks):
            await self.detach(index)
        object.__setattr__(self.core, "bus", None)
        self.core.events.forward = None
        self.core.events.interest = None
        self.core.lockout.forward = None
