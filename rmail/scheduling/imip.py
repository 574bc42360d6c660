"""Import iTIP (RFC 5546) from a delivered message (RFC 6047) into the recipient's calendars.

`import_itip(services, recipient, message_bytes)` is what the delivery pipeline calls for every
message it stored for a local recipient; ordinary mail is dismissed by a byte search. Methods:

- REQUEST / PUBLISH / ADD: the event lands in `Schedule-Inbox` (or updates the copy wherever
  the user keeps that UID); a REQUEST carrying only overrides is merged into the series; a
  stale one (lower SEQUENCE) is ignored.
- CANCEL: the whole event, or the named instances, marked `STATUS:CANCELLED`.
- REPLY: the replying attendee's `PARTSTAT` updated in the organizer's copy.

Synchronous (it writes the calendar store): call it from a worker thread. Never raises for bad
input: an invitation rmail cannot read must not fail the delivery of the message carrying it.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from icalendar.cal import Component

from rmail.ical.itip import address_of, attendees_of, calendar_parts, has_calendar_part
from rmail.ical.parse import CalendarObject, InvalidCalendar, parse_object
from rmail.store.calendars import SCHEDULE_INBOX, CalendarHome
from rmail.store.davstore import check_name
from rmail.store.errors import NotFound, PreconditionFailed, StoreError, UnsafeName

log = logging.getLogger("rmail.scheduling.imip")


@dataclass(frozen=True)
class Imported:
    method: str
    uid: str
    action: str                 # "created", "updated", "cancelled", "replied", "ignored"
    calendar: str | None = None
    name: str | None = None


def resource_name(uid: str) -> str:
    """`{uid}.ics` when the UID is a safe file name, else a hash of it."""
    name = f"{uid}.ics"
    try:
        check_name(name)
        if len(name.encode()) <= 200 and name.isprintable():
            return name
    except UnsafeName:
        pass
    return hashlib.sha256(uid.encode("utf-8", "replace")).hexdigest()[:40] + ".ics"


def import_itip(services: Any, recipient: str, message_bytes: bytes) -> list[Imported]:
    """Import every calendar part of a message delivered to `recipient` (a local address).
    `services` needs `.config.mail_root` and `.accounts` (rmail.services.Services or the
    delivery pipeline)."""
    if not has_calendar_part(message_bytes):
        return []
    try:
        owner = services.accounts.find_address(recipient)
    except (StoreError, ValueError):
        owner = None
    if owner is None:
        return []
    domain, username = owner
    home = services.calendars.home(domain, username)
    results: list[Imported] = []
    try:
        home.ensure_defaults()
        for part in calendar_parts(message_bytes):
            try:
                obj = parse_object(part.data, lenient=True, allow_method=True)
            except InvalidCalendar as exc:
                log.info("iMIP for %s: unreadable calendar part: %s", recipient, exc)
                continue
            method = (obj.method or part.method or "PUBLISH").upper()
            results.append(_apply(home, method, obj))
    except Exception:  # never fail a delivery because of an invitation
        log.exception("iMIP import for %s failed", recipient)
    return results


def _apply(home: CalendarHome, method: str, obj: CalendarObject) -> Imported:
    if obj.component not in ("VEVENT", "VTODO"):
        return Imported(method, obj.uid, "ignored")
    for _ in range(3):  # retry when the stored copy changed under us
        try:
            if method in ("REQUEST", "PUBLISH", "ADD"):
                return _request(home, method, obj)
            if method == "CANCEL":
                return _cancel(home, obj)
            if method == "REPLY":
                return _reply(home, obj)
            return Imported(method, obj.uid, "ignored")
        except PreconditionFailed:
            continue
    return Imported(method, obj.uid, "ignored")


def _clean(obj: CalendarObject) -> None:
    """No METHOD in a stored object; never keep local-file attachments (file:///etc/...)."""
    obj.calendar.pop("METHOD", None)
    for comp in obj.components:
        attach = comp.get("ATTACH")
        if attach is None:
            continue
        items = attach if isinstance(attach, list) else [attach]
        keep = [a for a in items if not str(a).strip().lower().startswith("file:")]
        del comp["ATTACH"]
        for a in keep:
            comp.add("ATTACH", a)


def _rid(comp: Component) -> str:
    prop = comp.get("RECURRENCE-ID")
    if prop is None:
        return ""
    value = getattr(prop, "dt", None)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y%m%dT%H%M%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    return str(prop)


def _sequence(comp: Component | None) -> int:
    try:
        return int(comp.get("SEQUENCE", 0)) if comp is not None else 0
    except (TypeError, ValueError):
        return 0


def _existing(home: CalendarHome, uid: str) -> tuple[str, str, CalendarObject, str] | None:
    found = home.find_uid(uid)
    if found is None:
        return None
    cal, name = found
    coll = home.get(cal)
    try:
        entry = coll.entry(name)
        data = coll.read(name)
        return cal, name, parse_object(data, lenient=True), str(entry["etag"])
    except (NotFound, InvalidCalendar):
        return None


def _store(home: CalendarHome, cal: str, name: str, obj: CalendarObject,
           etag: str | None) -> None:
    data = obj.calendar.to_ical()
    fresh = parse_object(data, lenient=True)
    home.put_object(cal, name, data, if_match=etag, if_none_match=None if etag else "*",
                    obj=fresh)


def _request(home: CalendarHome, method: str, obj: CalendarObject) -> Imported:
    _clean(obj)
    current = _existing(home, obj.uid)
    if current is None:
        name = resource_name(obj.uid)
        _store(home, SCHEDULE_INBOX, name, obj, None)
        return Imported(method, obj.uid, "created", SCHEDULE_INBOX, name)
    cal, name, stored, etag = current
    incoming = {_rid(c): c for c in obj.components}
    if "" in incoming and _sequence(incoming[""]) < _sequence(stored.master):
        return Imported(method, obj.uid, "ignored", cal, name)
    if "" in incoming:  # a full update replaces the series
        merged = obj
    else:  # only overrides: merge them into the stored series
        merged = stored
        for comp in list(stored.calendar.subcomponents):
            if comp.name == stored.component and _rid(comp) in incoming:
                stored.calendar.subcomponents.remove(comp)
        for comp in obj.components:
            merged.calendar.add_component(copy.deepcopy(comp))
        for comp in obj.calendar.subcomponents:
            if comp.name == "VTIMEZONE" and not any(
                    t.name == "VTIMEZONE" and t.get("TZID") == comp.get("TZID")
                    for t in merged.calendar.subcomponents):
                merged.calendar.subcomponents.insert(0, copy.deepcopy(comp))
    _store(home, cal, name, merged, etag)
    return Imported(method, obj.uid, "updated", cal, name)


def _cancel(home: CalendarHome, obj: CalendarObject) -> Imported:
    current = _existing(home, obj.uid)
    if current is None:
        return Imported("CANCEL", obj.uid, "ignored")
    cal, name, stored, etag = current
    rids = {_rid(c) for c in obj.components}
    whole = "" in rids or not rids
    for comp in stored.components:
        if whole or _rid(comp) in rids:
            comp.pop("STATUS", None)
            comp.add("STATUS", "CANCELLED")
    if not whole and stored.master is not None:
        have = {_rid(c) for c in stored.components}
        for comp in obj.components:
            value = getattr(comp.get("RECURRENCE-ID"), "dt", None)
            if _rid(comp) not in have and value is not None:
                stored.master.add("EXDATE", value)
    _store(home, cal, name, stored, etag)
    return Imported("CANCEL", obj.uid, "cancelled", cal, name)


def _reply(home: CalendarHome, obj: CalendarObject) -> Imported:
    current = _existing(home, obj.uid)
    if current is None:
        return Imported("REPLY", obj.uid, "ignored")
    cal, name, stored, etag = current
    by_rid = {_rid(c): c for c in stored.components}
    changed = False
    for comp in obj.components:
        target = by_rid.get(_rid(comp)) or by_rid.get("")
        if target is None:
            continue
        mine = attendees_of(target)
        for address, reply_att in attendees_of(comp).items():
            att = mine.get(address)
            if att is None:
                continue
            partstat = str(getattr(reply_att, "params", {}).get("PARTSTAT", "")).upper()
            if partstat:
                att.params["PARTSTAT"] = partstat
                att.params.pop("RSVP", None)
                changed = True
    if not changed:
        return Imported("REPLY", obj.uid, "ignored", cal, name)
    _store(home, cal, name, stored, etag)
    return Imported("REPLY", obj.uid, "replied", cal, name)


def local_owner(services: Any, address: str) -> tuple[str, str] | None:
    try:
        return services.accounts.find_address(address_of(f"mailto:{address}"))
    except (StoreError, ValueError):
        return None
