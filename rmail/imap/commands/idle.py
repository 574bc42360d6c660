"""IDLE (RFC 2177): push changes of the selected mailbox as they are committed.

The session's event-bus subscription wakes us; what changed is read from the index by
`Session.catch_up`, so coalesced or dropped events lose nothing. The client must re-issue
IDLE within the autologout time (RFC 2177 recommends every 29 minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from rmail.imap.commands.base import Done
from rmail.imap.commands.notify import push
from rmail.imap.connection import LineTooLong
from rmail.imap.errors import ImapBad, ImapBye
from rmail.imap.session import Session
from rmail.imap.syntax import NoArgs
from rmail.store.events import Change


async def idle(s: Session, args: NoArgs) -> Done:
    assert s.sub is not None
    s.conn.write(b"+ idling\r\n")
    await s.catch_up(expunge=True)
    await s.conn.flush()
    sub = s.sub
    reader: asyncio.Future[bytes] = asyncio.ensure_future(s.conn.read_line(s.limits.max_line))
    waiter: asyncio.Future[Change] | None = None
    try:
        while True:
            waiter = asyncio.ensure_future(sub.queue.get())
            pending: list[asyncio.Future[Any]] = [reader, waiter]
            done, _ = await asyncio.wait(pending, timeout=s.limits.autologout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                raise ImapBye("Autologout; IDLE for too long")
            if waiter in done:
                sub.queue.put_nowait(waiter.result())  # back in line for drain_events
                if s.drain_events():
                    await s.catch_up(expunge=True)
                    await push(s, between_commands=False)
                    await s.conn.flush()
            else:
                waiter.cancel()
            if reader.done():
                try:
                    line = reader.result()
                except LineTooLong:
                    raise ImapBye("line too long during IDLE") from None
                if line.strip().upper() != b"DONE":
                    raise ImapBad("expected DONE")
                return Done("IDLE terminated")
    finally:
        tasks: list[asyncio.Future[Any]] = [reader] if waiter is None else [reader, waiter]
        for task in tasks:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
