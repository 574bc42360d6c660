"""iTIP (RFC 5546) over iMIP (RFC 6047), as pure functions: which messages a change to a
calendar object calls for, the messages themselves, and reading iTIP out of a received e-mail.

Organizer side: a created or changed event with attendees → REQUEST to every attendee (a
change that only touches PARTSTATs, e.g. an imported REPLY, sends nothing); an attendee removed
→ CANCEL to them; the event deleted → CANCEL to all; occurrences of a series deleted (new
EXDATEs and nothing else changed) → a CANCEL naming just those instances by RECURRENCE-ID
(RFC 5546 §3.2.5), so attendees' clients drop one meeting instead of re-reading the series.
Attendee side: a change of the user's own PARTSTAT → REPLY to the organizer.
"""

from __future__ import annotations

import copy
import datetime as dt
import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

import icalendar
from icalendar.cal import Component

from rmail.ical.parse import CalendarObject

PRODID = "-//rmail//iMIP//EN"
_VOLATILE = ("DTSTAMP", "LAST-MODIFIED", "SEQUENCE", "X-MOZ-GENERATION", "X-MOZ-LASTACK")


@dataclass(frozen=True)
class Outgoing:
    """One iMIP message to send: `sender` is the user's address (envelope and From)."""

    method: str
    sender: str
    recipients: tuple[str, ...]
    message: bytes


def address_of(value: object) -> str:
    """`mailto:Bob@Example.com` → `bob@example.com` ('' when not a mailto: address)."""
    text = str(value or "").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    elif ":" in text or "@" not in text:
        return ""
    return text.strip().lower()


def organizer_of(obj: CalendarObject) -> str:
    for comp in obj.components:
        if "ORGANIZER" in comp:
            return address_of(comp["ORGANIZER"])
    return ""


def attendees_of(comp: Component) -> dict[str, Any]:
    values = comp.get("ATTENDEE")
    if values is None:
        return {}
    items = values if isinstance(values, list) else [values]
    return {address_of(v): v for v in items if address_of(v)}


def all_attendees(obj: CalendarObject | None) -> set[str]:
    if obj is None:
        return set()
    out: set[str] = set()
    for comp in obj.components:
        out.update(attendees_of(comp))
    return out


def _significant(obj: CalendarObject) -> bytes:
    """The object without what changes on every save or on a REPLY (PARTSTAT, RSVP)."""
    cal = copy.deepcopy(obj.calendar)
    for comp in cal.walk():
        for name in _VOLATILE:
            comp.pop(name, None)
        attendees = comp.get("ATTENDEE")
        if attendees is not None:
            items = attendees if isinstance(attendees, list) else [attendees]
            for att in items:
                params = getattr(att, "params", None)
                if params is not None:
                    for key in ("PARTSTAT", "RSVP", "SCHEDULE-STATUS"):
                        params.pop(key, None)
    return cal.to_ical()


def _partstat(obj: CalendarObject | None, address: str) -> dict[str, str]:
    """PARTSTAT of `address` per component (keyed by RECURRENCE-ID text)."""
    out: dict[str, str] = {}
    if obj is None:
        return out
    for comp in obj.components:
        att = attendees_of(comp).get(address)
        if att is not None:
            key = str(comp.get("RECURRENCE-ID").to_ical()) if "RECURRENCE-ID" in comp else ""
            out[key] = str(getattr(att, "params", {}).get("PARTSTAT", "NEEDS-ACTION")).upper()
    return out


def messages_for_change(old: CalendarObject | None, new: CalendarObject | None,
                        own: set[str], *, sender_name: str = "") -> list[Outgoing]:
    """The iMIP messages a PUT (old → new) or DELETE (new None) by the user calls for."""
    current = new or old
    if current is None or current.component != "VEVENT":
        return []
    organizer = organizer_of(current)
    if not organizer:
        return []
    if organizer in own:
        return _organizer_messages(old, new, organizer, own, sender_name)
    me = next((a for a in own if a in all_attendees(new)), None)
    if me is None or new is None:
        return []
    before, after = _partstat(old, me), _partstat(new, me)
    if old is not None and before == after:
        return []
    if old is None and all(v == "NEEDS-ACTION" for v in after.values()):
        return []
    return [Outgoing("REPLY", me, (organizer,), build_message(
        "REPLY", reply_calendar(new, me), me, [organizer], sender_name=sender_name))]


def _organizer_messages(old: CalendarObject | None, new: CalendarObject | None,
                        organizer: str, own: set[str], sender_name: str) -> list[Outgoing]:
    out: list[Outgoing] = []
    before = all_attendees(old) - own
    after = all_attendees(new) - own
    instances = _cancelled_instances(old, new)
    if instances and old is not None:
        invited = sorted(all_attendees(old) - own)
        if invited:
            out.append(Outgoing("CANCEL", organizer, tuple(invited), build_message(
                "CANCEL", cancel_instances_calendar(old, instances), organizer, invited,
                sender_name=sender_name)))
        return out
    if new is not None and after and (old is None or _significant(old) != _significant(new)):
        out.append(Outgoing("REQUEST", organizer, tuple(sorted(after)), build_message(
            "REQUEST", request_calendar(new), organizer, sorted(after),
            sender_name=sender_name)))
    removed = before - after if new is not None else before
    if removed and old is not None:
        out.append(Outgoing("CANCEL", organizer, tuple(sorted(removed)), build_message(
            "CANCEL", cancel_calendar(old, sorted(removed)), organizer, sorted(removed),
            sender_name=sender_name)))
    return out


def _exdates(comp: Component | None) -> list[Any]:
    """The EXDATE values of a component (one property or several, each with one or more)."""
    if comp is None or "EXDATE" not in comp:
        return []
    props = comp["EXDATE"] if isinstance(comp["EXDATE"], list) else [comp["EXDATE"]]
    return [d.dt for prop in props for d in getattr(prop, "dts", ())]


def _rid_key(value: Any) -> str:
    """An instance's identity for comparison (RFC 5545 §3.8.4.4: the date-time in UTC)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y%m%dT%H%M%S")
    return value.strftime("%Y%m%d") if isinstance(value, dt.date) else str(value)


def _cancelled_instances(old: CalendarObject | None, new: CalendarObject | None) -> list[Any]:
    """The instances `new` excludes that `old` had, when that is the whole change (new EXDATEs,
    and the overrides of exactly those instances gone); else []."""
    if old is None or new is None or old.master is None or new.master is None:
        return []
    if "RRULE" not in old.master and "RDATE" not in old.master:
        return []
    before = {_rid_key(v) for v in _exdates(old.master)}
    added = [v for v in _exdates(new.master) if _rid_key(v) not in before]
    if not added:
        return []
    gone = {_rid_key(v) for v in added}
    trimmed = copy.deepcopy(old.calendar)
    for comp in list(trimmed.subcomponents):
        if comp.name == old.component and "RECURRENCE-ID" in comp \
                and _rid_key(getattr(comp["RECURRENCE-ID"], "dt", None)) in gone:
            trimmed.subcomponents.remove(comp)
    later = copy.deepcopy(new.calendar)
    for cal, kind in ((trimmed, old.component), (later, new.component)):
        for comp in cal.subcomponents:
            if comp.name == kind and "RECURRENCE-ID" not in comp:
                comp.pop("EXDATE", None)
    as_old = CalendarObject(trimmed, old.uid, old.component, None)
    as_new = CalendarObject(later, new.uid, new.component, None)
    return added if _significant(as_old) == _significant(as_new) else []


# -- iTIP objects ----------------------------------------------------------------------------
def _calendar(method: str) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("METHOD", method)
    return cal


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def request_calendar(obj: CalendarObject) -> icalendar.Calendar:
    cal = _calendar("REQUEST")
    for comp in obj.calendar.subcomponents:
        cal.add_component(copy.deepcopy(comp))
    return cal


def cancel_calendar(obj: CalendarObject, attendees: list[str]) -> icalendar.Calendar:
    cal = _calendar("CANCEL")
    for comp in obj.calendar.subcomponents:
        if comp.name == "VTIMEZONE":
            cal.add_component(copy.deepcopy(comp))
    for comp in obj.components:
        ev = icalendar.Event()
        for name in ("UID", "DTSTART", "RECURRENCE-ID", "ORGANIZER", "SUMMARY"):
            if name in comp:
                ev[name] = comp[name]
        ev.add("DTSTAMP", _now())
        ev.add("SEQUENCE", int(comp.get("SEQUENCE", 0)) + 1)
        ev.add("STATUS", "CANCELLED")
        for address in attendees:
            ev.add("ATTENDEE", f"mailto:{address}")
        cal.add_component(ev)
    return cal


def cancel_instances_calendar(obj: CalendarObject, instances: list[Any]) -> icalendar.Calendar:
    """CANCEL of some instances of a series: one VEVENT per instance with its RECURRENCE-ID
    (in the series' time zone, as DTSTART has it) and that instance's attendees."""
    cal = _calendar("CANCEL")
    for comp in obj.calendar.subcomponents:
        if comp.name == "VTIMEZONE":
            cal.add_component(copy.deepcopy(comp))
    master = obj.master
    assert master is not None
    overrides = {_rid_key(getattr(c["RECURRENCE-ID"], "dt", None)): c for c in obj.components
                 if "RECURRENCE-ID" in c}
    for value in instances:
        source = overrides.get(_rid_key(value), master)
        ev = icalendar.Event()
        for name in ("UID", "ORGANIZER", "SUMMARY"):
            if name in master:
                ev[name] = master[name]
        ev.add("RECURRENCE-ID", value)
        ev.add("DTSTAMP", _now())
        ev.add("SEQUENCE", int(master.get("SEQUENCE", 0)) + 1)
        ev.add("STATUS", "CANCELLED")
        for address in sorted(attendees_of(source)):
            ev.add("ATTENDEE", f"mailto:{address}")
        cal.add_component(ev)
    return cal


def reply_calendar(obj: CalendarObject, attendee: str) -> icalendar.Calendar:
    cal = _calendar("REPLY")
    for comp in obj.components:
        att = attendees_of(comp).get(attendee)
        if att is None:
            continue
        ev = icalendar.Event()
        for name in ("UID", "DTSTART", "RECURRENCE-ID", "ORGANIZER", "SEQUENCE", "SUMMARY"):
            if name in comp:
                ev[name] = comp[name]
        ev.add("DTSTAMP", _now())
        ev.add("ATTENDEE", att)
        cal.add_component(ev)
    return cal


_SUBJECTS = {"REQUEST": "Invitation", "CANCEL": "Cancelled", "REPLY": "Reply",
             "PUBLISH": "Event"}


def build_message(method: str, cal: icalendar.Calendar, sender: str, recipients: list[str], *,
                  sender_name: str = "", now: dt.datetime | None = None) -> bytes:
    """RFC 6047 §2: multipart/alternative with a text summary and text/calendar; method=..."""
    summary = ""
    for comp in cal.subcomponents:
        if comp.name == "VEVENT" and comp.get("SUMMARY"):
            summary = str(comp["SUMMARY"])
            break
    if method == "REPLY":
        partstat = ""
        for comp in cal.subcomponents:
            for att in attendees_of(comp).values():
                partstat = str(getattr(att, "params", {}).get("PARTSTAT", "")).lower()
        label = {"accepted": "Accepted", "declined": "Declined",
                 "tentative": "Tentative"}.get(partstat, "Reply")
    else:
        label = _SUBJECTS.get(method, method.title())
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = formataddr((sender_name, sender)) if sender_name else sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = f"{label}: {summary}" if summary else label
    msg["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "rmail.invalid")
    msg.set_content(f"{label}: {summary}\n" if summary else f"{label}\n")
    body = cal.to_ical().decode("utf-8")
    msg.add_alternative(body, subtype="calendar", params={"method": method},
                        cte="quoted-printable" if not body.isascii() else "7bit")
    return msg.as_bytes()


# -- reading received mail -----------------------------------------------------------------
CALENDAR_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar")


_CALENDAR_TYPE_BYTES = tuple(t.encode() for t in CALENDAR_TYPES)


def has_calendar_part(raw: bytes) -> bool:
    """Cheap pre-check on raw bytes (no parse), so ordinary mail is never parsed for iTIP.
    Every delivery runs it: an ASCII lower-case copy searched for plain substrings costs
    about 2 µs for 4 KB, where a case-insensitive regex took 80 µs."""
    low = raw.lower()
    return any(t in low for t in _CALENDAR_TYPE_BYTES)


@dataclass(frozen=True)
class CalendarPart:
    method: str | None     # from the Content-Type parameter, if any
    data: bytes


def calendar_parts(raw: bytes) -> list[CalendarPart]:
    """The text/calendar (and application/ics) parts of a message, decoded."""
    msg: Message = email.message_from_bytes(raw, policy=email.policy.compat32)
    out: list[CalendarPart] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type().lower()
        if ctype not in CALENDAR_TYPES:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload.strip():
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = payload.decode(charset, "replace")
        except LookupError:
            text = payload.decode("utf-8", "replace")
        method = part.get_param("method")
        out.append(CalendarPart(str(method).upper() if method else None,
                                text.encode("utf-8")))
    return out
