"""NOTIFY (RFC 5465): NOTIFY SET/NONE, and telling a session what its events say.

Notifications go out when they happen, not only during IDLE: `read_between` waits for the
next command and, meanwhile, for the session's event-bus subscription, and `push` writes what
the events mean (RFC 5465 §1: the server sends them without being asked). `push` also runs
at the end of every command and in IDLE.

- The selected mailbox (SELECTED / SELECTED-DELAYED): the usual EXISTS, EXPUNGE (not with
  SELECTED-DELAYED outside commands that allow it) and FETCH FLAGS, plus a FETCH of the
  MessageNew attributes for each new message.
- Other mailboxes: `* STATUS` with MESSAGES/UIDNEXT/UIDVALIDITY for MessageNew, MESSAGES for
  MessageExpunge, UIDVALIDITY/HIGHESTMODSEQ for FlagChange; `* LIST` for MailboxName and
  SubscriptionChange (`\\NonExistent` for a deleted mailbox, OLDNAME for a renamed one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from rmail.imap.commands.base import Done
from rmail.imap.commands.fetch import fetch as fetch_command
from rmail.imap.notify import (
    NotifySpec,
    NotifyState,
    compile_spec,
    list_changes,
    status_items,
)
from rmail.imap.sequence import SequenceSet
from rmail.imap.session import Session
from rmail.imap.syntax import Fetch, Notify
from rmail.store.errors import NotFound
from rmail.store.folders import SEPARATOR, FolderEntry


async def _status_line(s: Session, name: str, items: tuple[str, ...]) -> bytes | None:
    assert s.mailbox is not None
    try:
        folder = await s.run(s.mailbox.folder, name)
        st = await s.run(folder.status)
    except NotFound:
        return None
    values = {"MESSAGES": st.count, "UIDNEXT": st.uidnext, "UIDVALIDITY": st.uidvalidity,
              "HIGHESTMODSEQ": st.highestmodseq}
    body = b" ".join(item.encode() + b" %d" % values[item] for item in items)
    return b"STATUS " + s.mailbox_name(name) + b" (" + body + b")"


def _selected_name(s: Session) -> str | None:
    return s.selected.folder.name if s.selected is not None else None


async def _folder_list(s: Session) -> tuple[list[FolderEntry], list[str]]:
    assert s.mailbox is not None
    return await s.run(s.mailbox.entries), await s.run(s.mailbox.subscriptions)


async def notify(s: Session, args: Notify) -> Done:
    if args.groups is None:
        s.notify = None
        return Done()
    spec = compile_spec(args)
    state = NotifyState(spec)
    entries, subs = await _folder_list(s)
    state.remember(entries, subs)
    if s.selected is not None:
        state.top_folder = s.selected.folder.id
        state.top_uid = s.selected.uids[-1] if s.selected.uids else 0
    s.notify = state
    if args.status:  # RFC 5465 §3: the current status of every mailbox watched
        selected = _selected_name(s)
        for e in entries:
            if not e.selectable or e.name == selected:
                continue
            items = status_items(spec.events_for(e.name, state.subscribed))
            if items and (line := await _status_line(s, e.name, items)) is not None:
                s.untagged(line)
    return Done()


async def push(s: Session, *, between_commands: bool) -> None:
    """Tell the client what happened since the last push (see the module docstring)."""
    state = s.notify
    if state is None:
        return
    s.drain_events()
    spec = state.spec
    if s.selected is not None and spec.selected:
        if between_commands:
            await s.catch_up(expunge=not spec.delayed)
        if spec.fetch and s.selected is not None:
            await _fetch_new(s, state, spec)
    pending, state.pending = state.pending, {}
    resync, state.resync = state.resync, False
    if state.folders_changed or resync or pending:
        await _tell_others(s, state, pending, resync)


async def _fetch_new(s: Session, state: NotifyState, spec: NotifySpec) -> None:
    view = s.view()
    if state.top_folder != view.folder.id:  # newly selected: what SELECT showed is known
        state.top_folder = view.folder.id
        state.top_uid = view.uids[-1] if view.uids else 0
        return
    new = [u for u in view.uids if u > state.top_uid and u not in view.gone]
    if not new:
        return
    state.top_uid = new[-1]
    ranges = tuple((u, u) for u in new)
    await fetch_command(s, Fetch(SequenceSet(ranges), spec.fetch, uid=True))


async def _tell_others(s: Session, state: NotifyState, pending: dict[str, set[str]],
                       resync: bool) -> None:
    spec = state.spec
    entries, subs = await _folder_list(s)
    if state.folders_changed:
        state.folders_changed = False
        new_names = {e.name: e.folder_id for e in entries}
        for attrs, name, old in list_changes(state.names, new_names, state.subscribed,
                                             set(subs), spec):
            line = b"LIST (" + attrs.encode() + b') "' + SEPARATOR.encode() + b'" ' + \
                s.mailbox_name(name)
            if old is not None:  # RFC 5465 §5.4 / RFC 5258 §3.5: OLDNAME
                line += b' ("OLDNAME" (' + s.mailbox_name(old) + b"))"
            s.untagged(line)
        state.remember(entries, subs)
    selected_id = s.selected.folder.id if s.selected is not None else None
    for e in entries:
        if e.folder_id is None or e.folder_id == selected_id:
            continue
        happened = {"MESSAGENEW", "MESSAGEEXPUNGE", "FLAGCHANGE"} if resync else \
            pending.get(e.folder_id, set())
        if not happened:
            continue
        items = status_items(spec.events_for(e.name, state.subscribed) & happened)
        if items and (told := await _status_line(s, e.name, items)) is not None:
            s.untagged(told)


async def read_between(s: Session, reader: Callable[[Session], Awaitable[bytes]]) -> bytes:
    """The next command, as `reader` reads it; while waiting for it, notifications are
    written as their events arrive (only for a session with NOTIFY set)."""
    if s.notify is None or s.sub is None:
        return await reader(s)
    task = asyncio.ensure_future(reader(s))
    pending: list[asyncio.Future[Any]] = [task]
    try:
        while True:
            sub = s.sub
            waiter = asyncio.ensure_future(sub.queue.get())
            pending = [task, waiter]
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if waiter in done:
                try:
                    sub.queue.put_nowait(waiter.result())  # back in line for drain_events
                except asyncio.QueueFull:
                    sub.overflowed = True
            else:
                waiter.cancel()
            pending = [task]
            if task in done:
                return task.result()
            if s.notify is not None:
                await push(s, between_commands=True)
                await s.conn.flush()
    finally:
        for fut in pending:
            if not fut.done():
                fut.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await fut
