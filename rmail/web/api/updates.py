"""`GET /users/{user}/updates`: the account's changes as Server-Sent Events (text/event-stream).

Each event is `id: <position>` + `data: {"command": "EXISTS"|"EXPUNGE"|"FLAGS"|"CREATE"|
"RENAME"|"DELETE"|"RESYNC", "mailbox": id, "message": uid, "uid": uid, ...}`. The events are
derived from the folders' durable indexes (`rmail.store.changes`), and the id is the position
after the event, so a client that reconnects with `Last-Event-ID` (EventSource does it by
itself) resumes without gaps, across restarts and whichever worker serves it; a position the
tombstones no longer reach gets `RESYNC`. A new stream starts with an `id:` line alone (the
current position), so even a stream that saw no event can resume.

The change bus (`rmail.store.events`, across worker processes by `rmail.bus`) only says when
to look. Every `HEARTBEAT` seconds a comment line keeps proxies from closing the stream and
the indexes are looked at anyway (changes made by the CLI publish nothing). The credentials
are checked again after every `session` change and at least every `HEARTBEAT` seconds: a
logout, password change, or an account disabled or deleted through the API ends the stream at
once (they publish a `session` change, `rmail.web.auth.sessions_changed`), and anything else
that ends a login (expiry, an account disabled by the CLI) within `HEARTBEAT` seconds.

Accepts the webmail's session cookie as well as the API's credentials: the webmail's pages
follow this stream (`static/app.js`) for their live updates. A cookie opens only the caller's
own account, and only from the webmail's own origin (`rmail.web.auth.cross_site`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools

import orjson
from aiohttp import web

from rmail.store.changes import Event, Position, changes_since, current_position
from rmail.store.events import Change, Subscription
from rmail.store.mailbox import UserMailbox
from rmail.web.api.base import core, run
from rmail.web.api.users import resolve_reader
from rmail.web.auth import SESSION_CHANGE, authenticate
from rmail.web.errors import HttpError

__all__ = ["HEARTBEAT", "routes"]

routes = web.RouteTableDef()
HEARTBEAT = 30.0
POLL = 5.0  # how soon a stream notices its client has gone
MAX_EVENTS_PER_READ = 10_000  # a catch-up larger than this is sent in several reads
QUEUE = 1000


def _frame(event: Event) -> bytes:
    """`id:` + `data:`; a bare `id:` when only the position moves (EventSource keeps the id
    without dispatching an event)."""
    head = b"id: " + event.position.encode().encode() + b"\n"
    if event.data is None:
        return head + b"\n"
    return head + b"data: " + orjson.dumps(event.data) + b"\n\n"


def _read(mailbox: UserMailbox, position: Position, hint: Change | None
          ) -> tuple[bytes, Position, bool]:
    """The frames of the changes after `position` (up to `MAX_EVENTS_PER_READ`), the position
    after them, and whether more may follow."""
    frames = []
    for event in changes_since(mailbox, position, hint):
        frames.append(_frame(event))
        position = event.position
        if len(frames) >= MAX_EVENTS_PER_READ:
            return b"".join(frames), position, True
    return b"".join(frames), position, False


async def _still_allowed(request: web.Request) -> bool:
    try:
        await authenticate(request, cookie=True)
    except HttpError:
        return False
    return True


@routes.get("/users/{user}/updates")
async def updates(request: web.Request) -> web.StreamResponse:
    target = await resolve_reader(request)
    services = core(request)
    mailbox = services.mail.mailbox(target.domain, target.username)
    raw = request.headers.get("Last-Event-ID", "").strip()
    start = Position.decode(raw) if raw else None
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    # subscribe before reading the position, so nothing committed in between is missed
    with services.events.subscribe(target.domain, target.username, maxsize=QUEUE) as sub:
        more = False
        if start is None:
            position = await run(request, current_position, mailbox)
            head = b"retry: 3000\n"
            if raw:  # a position we cannot read: start afresh, and say so
                head += (b"id: " + position.encode().encode() + b"\ndata: " +
                         orjson.dumps({"command": "RESYNC"}) + b"\n\n")
            else:
                head += b"id: " + position.encode().encode() + b"\n\n"
        else:
            frames, position, more = await run(request, _read, mailbox, start, None)
            head = b"retry: 3000\n\n" + frames
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):  # the client went away
            await response.write(head)
            await _follow(request, response, sub, mailbox, position, catch_up=more)
            await response.write_eof()
    return response


async def _follow(request: web.Request, response: web.StreamResponse, sub: Subscription,
                  mailbox: UserMailbox, position: Position, *, catch_up: bool) -> None:
    """Send changes as the bus announces them (first the rest of a long catch-up)."""
    loop = asyncio.get_running_loop()
    quiet_since = checked = loop.time()
    while True:
        change = None if catch_up else await sub.get(timeout=POLL)
        transport = request.transport
        if transport is None or transport.is_closing():  # the client went away
            return
        now = loop.time()
        if change is None and not catch_up:
            if now - quiet_since < HEARTBEAT:
                continue
            await response.write(b": heartbeat\n\n")
        quiet_since = now
        catch_up = False
        # The credentials again when a session changed (a logout or password change ends the
        # stream at once) and at least every HEARTBEAT seconds, busy or quiet; not after every
        # mail change: with a thousand streams of one account that was a thousand checks.
        session = change is not None and change.kind == SESSION_CHANGE
        if session or sub.overflowed or now - checked >= HEARTBEAT:
            if not await _still_allowed(request):
                return
            checked = now
        if session and sub.queue.empty() and not sub.overflowed:
            continue  # someone else's logout: nothing to read
        hint = change
        if sub.overflowed or not sub.queue.empty():
            sub.overflowed, hint = False, None  # several changes: read them all at once
            while not sub.queue.empty():
                sub.queue.get_nowait()
        more = True
        while more:
            frames, position, more = await _shared_read(request, mailbox, position, hint)
            if frames:
                await response.write(frames)
            hint = None


# Streams of one account usually stand at the same position when a change arrives: the first
# to read it leaves its (pending) answer here for the others (a thousand streams, one index
# read). An answer is only ever as old as the change that asked for it; anything newer comes
# with its own change, read from the position the answer ends at.
_Answer = tuple[bytes, Position, bool]


class _SharedRead:
    """One read and the streams waiting for it. Each waits on a future of its own, so a
    stream that goes away (its task cancelled) never cancels the read for the others, and the
    read's end wakes them all from one callback (`asyncio.shield` per stream added two
    callbacks and a future each: a third of the fan-out's time)."""

    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Future[_Answer]) -> None:
        self.task = task
        self.waiters: list[asyncio.Future[_Answer]] = []
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[_Answer]) -> None:
        waiters, self.waiters = self.waiters, []
        failed = task.cancelled() or task.exception() is not None
        for waiter in waiters:
            if waiter.done():  # its stream has gone
                continue
            if task.cancelled():
                waiter.cancel()
            elif failed:
                waiter.set_exception(task.exception())  # type: ignore[arg-type]
            else:
                waiter.set_result(task.result())

    async def wait(self) -> _Answer:
        if self.task.done():
            return self.task.result()
        waiter: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return await waiter


_SHARED: dict[tuple[object, ...], _SharedRead] = {}
_SHARED_MAX = 1024


async def _shared_read(request: web.Request, mailbox: UserMailbox, position: Position,
                       hint: Change | None) -> _Answer:
    if hint is None:
        return await run(request, _read, mailbox, position, None)
    key = (id(asyncio.get_running_loop()), mailbox.domain, mailbox.username, position.encode(),
           hint.folder_id, hint.modseq, hint.kind)
    found = _SHARED.get(key)
    if found is None:
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.clear()
        task = asyncio.ensure_future(run(request, _read, mailbox, position, hint))
        found = _SHARED[key] = _SharedRead(task)
        task.add_done_callback(functools.partial(_forget_failed, key))
    return await found.wait()


def _forget_failed(key: tuple[object, ...], future: asyncio.Future[object]) -> None:
    if future.cancelled() or future.exception() is not None:
        _SHARED.pop(key, None)  # the next stream reads for itself
