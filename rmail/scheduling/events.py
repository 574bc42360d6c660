"""Event changes a user makes outside CalDAV (the webmail calendar), on the same store CalDAV
clients use, followed by the iMIP messages the change calls for (RFC 6047): REQUEST to the
attendees of a created or changed event the user organizes, CANCEL to removed attendees and to
everyone when it is deleted, REPLY to the organizer when the user answers.

Store work runs on the store pool (`Services.run`), never holding a lock while mail is sent;
messages go through `rmail.scheduling.send` and so through the one delivery pipeline (local
attendees get the invitation in their inbox and their Schedule-Inbox, remote ones are queued).
Unlike CalDAV's fire-and-forget, the caller awaits the sending and gets, per message, whether
it went out, so the page can say so.

Lost-update protection is the store's: every write carries the ETag the form was made from
(`if_match`), and a change made meanwhile (a CalDAV client, another tab) is refused with
`PreconditionFailed` rather than overwritten.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import icalendar

from rmail.ical import itip
from rmail.ical.importing import ImportItem
from rmail.ical.meta import object_meta
from rmail.ical.parse import CalendarObject, InvalidCalendar, parse_object
from rmail.scheduling.imip import resource_name
from rmail.scheduling.send import send_one
from rmail.store.calendars import CalendarHome
from rmail.store.errors import NotFound

log = logging.getLogger("rmail.scheduling.events")


@dataclass(frozen=True)
class Actor:
    """Who changes the calendar: their addresses decide organizer/attendee roles."""

    addresses: frozenset[str]
    display_name: str = ""

    @property
    def address(self) -> str:
        return min(self.addresses) if self.addresses else ""

    @classmethod
    def of(cls, account: Any) -> Actor:
        addresses = tuple(getattr(account, "addresses", ()) or (account.address,))
        return cls(frozenset(a.lower() for a in addresses),
                   str(getattr(account, "display_name", "") or ""))


@dataclass
class Outcome:
    """What a change did: the resource it wrote and the iMIP messages sent or failed."""

    calendar: str
    name: str
    uid: str
    etag: str = ""
    sent: list[itip.Outgoing] = field(default_factory=list)
    failed: list[tuple[itip.Outgoing, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the page: whom mail went to, and what did not go."""
        parts = []
        for out in self.sent:
            label = {"REQUEST": "Invitation", "CANCEL": "Cancellation",
                     "REPLY": "Reply"}.get(out.method, out.method)
            parts.append(f"{label} sent to {', '.join(out.recipients)}")
        for out, reason in self.failed:
            parts.append(f"{out.method} to {', '.join(out.recipients)} failed: {reason}")
        return "; ".join(parts)


def new_uid(domain: str) -> str:
    return f"{secrets.token_hex(16)}@{domain or 'rmail'}"


def load(home: CalendarHome, calendar: str, uid: str) -> tuple[str, str, CalendarObject]:
    """(resource name, etag, parsed object) of the object with `uid` in `calendar`."""
    coll = home.get(calendar)
    name = coll.index().uid_owner(uid)
    if name is None:
        raise NotFound(f"no event {uid!r} in calendar {calendar!r}")
    entry = coll.entry(name)
    data = coll.read(name)
    try:
        return name, str(entry["etag"]), parse_object(data)
    except InvalidCalendar:
        return name, str(entry["etag"]), parse_object(data, lenient=True)


async def _send(services: Any, messages: list[itip.Outgoing], outcome: Outcome) -> Outcome:
    for message in messages:
        try:
            await send_one(services, message)
            outcome.sent.append(message)
        except Exception as exc:  # the change is stored; say what did not go out
            log.warning("iMIP %s from %s failed: %s", message.method, message.sender, exc)
            outcome.failed.append((message, str(exc) or type(exc).__name__))
    return outcome


async def save(services: Any, home: CalendarHome, actor: Actor, calendar: str,
               cal: icalendar.Calendar, *, old: CalendarObject | None = None,
               name: str | None = None, if_match: str | None = None) -> Outcome:
    """Store `cal` (a new object when `old` is None, else the new version of `old` at
    `name`), then send what iTIP calls for."""
    data = cal.to_ical()
    obj = parse_object(data)
    target = name or resource_name(obj.uid)

    def write() -> str:
        etag, _, _ = home.put_object(calendar, target, data, obj=obj, if_match=if_match,
                                     if_none_match=None if old is not None else "*")
        return etag

    etag = await services.run(write)
    outcome = Outcome(calendar, target, obj.uid, etag)
    messages = itip.messages_for_change(old, obj, set(actor.addresses),
                                        sender_name=actor.display_name)
    return await _send(services, messages, outcome)


async def delete(services: Any, home: CalendarHome, actor: Actor, calendar: str, uid: str,
                 *, if_match: str | None = None) -> Outcome:
    """Delete the event; CANCEL to its attendees when the user organizes it."""
    def remove() -> tuple[str, CalendarObject]:
        name, etag, obj = load(home, calendar, uid)
        home.get(calendar).delete(name, if_match=if_match or etag)
        return name, obj

    name, old = await services.run(remove)
    messages = itip.messages_for_change(old, None, set(actor.addresses),
                                        sender_name=actor.display_name)
    return await _send(services, messages, Outcome(calendar, name, uid))


async def import_items(home: CalendarHome, calendar: str, items: list[ImportItem], *,
                       run: Callable[..., Awaitable[Any]]) -> tuple[int, int]:
    """Store every item in one all-or-nothing write (through ``run``, `Services.run`); an
    item whose UID the calendar holds replaces it. Returns (created, updated). Imports send
    no mail (they are not changes the user makes as organizer)."""
    def write() -> list[tuple[str, str, bool]]:
        coll = home.get(calendar)
        allowed = coll.meta().get("components")
        for item in items:
            if allowed and item.component not in allowed:
                raise InvalidCalendar(f"{item.component} is not supported by this calendar")
        batch = [(resource_name(i.uid), i.data, object_meta(i.obj)) for i in items]
        return coll.put_many(batch)

    written: list[tuple[str, str, bool]] = await run(write)
    created = sum(1 for _, _, new in written if new)
    return created, len(written) - created
