"""Implicit scheduling over iMIP (RFC 6047) after a PUT or DELETE by the organizer: REQUEST to
every attendee of a created or changed event, CANCEL to removed attendees and, on delete, to
all of them. Messages are built by `rmail.ical.itip` (pure) and handed to the delivery service
(local attendees delivered locally, others queued) in a background task: a PUT never waits on
mail, and no store lock is held while sending."""

from __future__ import annotations

import asyncio
import logging

from rmail.ical import itip
from rmail.ical.parse import CalendarObject, InvalidCalendar, parse_object
from rmail.web.caldav.context import DavContext

log = logging.getLogger("rmail.caldav.scheduling")

_tasks: set[asyncio.Task[None]] = set()


def _own_addresses(ctx: DavContext) -> set[str]:
    account = ctx.principal.account
    return {a.lower() for a in (account.addresses or (account.address,))}


def after_put(ctx: DavContext, old: bytes | None, new: CalendarObject) -> None:
    old_obj = None
    if old is not None:
        try:
            old_obj = parse_object(old)
        except InvalidCalendar:
            old_obj = None
    messages = itip.messages_for_change(old_obj, new, _own_addresses(ctx),
                                        sender_name=ctx.principal.account.display_name)
    _send(ctx, messages)


def after_delete(ctx: DavContext, old: bytes) -> None:
    try:
        old_obj = parse_object(old)
    except InvalidCalendar:
        return
    messages = itip.messages_for_change(old_obj, None, _own_addresses(ctx),
                                        sender_name=ctx.principal.account.display_name)
    _send(ctx, messages)


def _send(ctx: DavContext, messages: list[itip.Outgoing]) -> None:
    if not messages:
        return
    from rmail.web.caldav.imip_send import send_all

    task = asyncio.get_running_loop().create_task(send_all(ctx.core, messages))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
