"""The event form of the webmail calendar as pure functions: form fields → validated
`EventFields` (each error names its field), `EventFields` → a new or updated VEVENT object, an
override for one occurrence, an occurrence removed, a PARTSTAT answered, and an object → the
fields that prefill the edit form.

Field names are the issue's: `summary`, `start`, `end`, `all_day`, `timezone`, `location`,
`description`, `rrule` (none|daily|weekly|monthly|yearly) with `interval`, `byday` (weekly),
`ends` (never|count|until) with `count`/`until`, `attendees` (comma or line separated) and
`alarm` (minutes before the start; empty for none). Times are wall-clock in `timezone` (an IANA
name); all-day events take dates and the end date is the last day shown (DTEND is the day
after, RFC 5545 §3.6.1).

Updating keeps what the form does not show (categories, X- properties, attendees' answers,
other clients' alarms that are not "N minutes before the start"), bumps SEQUENCE when the
time, the rule or the place changes (RFC 5546 §2.1.4) and drops overrides and exceptions only
when the series' start or rule changed (their RECURRENCE-IDs would name instances that no
longer exist).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import icalendar
from icalendar.cal import Component

from rmail.ical.itip import address_of, attendees_of
from rmail.ical.parse import CalendarObject

PRODID = "-//rmail//Webmail Calendar//EN"
REPEATS = ("none", "daily", "weekly", "monthly", "yearly")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
PARTSTATS = ("ACCEPTED", "DECLINED", "TENTATIVE")
MAX_SUMMARY = 1000
MAX_LOCATION = 1000
MAX_DESCRIPTION = 64 * 1024
MAX_ATTENDEES = 200
MAX_ALARM_MINUTES = 4 * 7 * 24 * 60
MAX_COUNT = 5000
_ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]{2,}$")
_SIGNIFICANT = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "LOCATION")


class FormError(ValueError):
    """A field the user must correct; `field` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class EventFields:
    summary: str
    start: dt.datetime | dt.date        # aware datetime, or a date when all_day
    end: dt.datetime | dt.date          # exclusive (all-day: the day after the last day)
    all_day: bool
    timezone: str
    location: str = ""
    description: str = ""
    repeat: str = "none"
    interval: int = 1
    byday: tuple[str, ...] = ()
    count: int | None = None
    until: dt.date | None = None
    attendees: tuple[str, ...] = field(default_factory=tuple)
    alarm: int | None = None


def _one(form: Mapping[str, object], name: str) -> str:
    value = form.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    return str(value or "").strip()


def _many(form: Mapping[str, object], name: str) -> list[str]:
    getall = getattr(form, "getall", None)
    if callable(getall):
        return [str(v) for v in getall(name, [])]
    value = form.get(name)
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def zone(name: str) -> zoneinfo.ZoneInfo:
    """An IANA zone by name, or FormError on the `timezone` field."""
    try:
        if not name or ".." in name or name.startswith("/"):
            raise ValueError(name)
        return zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise FormError("timezone", f"unknown time zone {name!r}") from None


def _date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise FormError(name, f"{name}: expected a date like 2026-12-24, got {text!r}") from None


def _datetime(text: str, name: str, tz: dt.tzinfo) -> dt.datetime:
    if len(text) == 10:
        text += "T00:00"
    try:
        value = dt.datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise FormError(name, f"{name}: expected a time like 2026-12-24T09:30, "
                              f"got {text!r}") from None
    return value.replace(tzinfo=tz, second=0, microsecond=0)


def _int(text: str, name: str, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise FormError(name, f"{name}: expected a whole number, got {text!r}") from None
    if not lo <= value <= hi:
        raise FormError(name, f"{name} must be between {lo} and {hi}")
    return value


def parse_attendees(text: str) -> tuple[str, ...]:
    """`Bob <bob@x.org>, carol@y.org` → ('bob@x.org', 'carol@y.org'); FormError names the
    address that is not one."""
    out: list[str] = []
    for item in re.split(r"[,;\n]+", text):
        item = item.strip()
        if not item:
            continue
        match = re.search(r"<([^<>]*)>", item)
        address = (match.group(1) if match else item).strip()
        if address.lower().startswith("mailto:"):
            address = address[7:]
        if not _ADDRESS.match(address):
            raise FormError("attendees", f"not an e-mail address: {item!r}")
        if address.lower() not in out:
            out.append(address.lower())
    if len(out) > MAX_ATTENDEES:
        raise FormError("attendees", f"at most {MAX_ATTENDEES} attendees")
    return tuple(out)


def parse_fields(form: Mapping[str, object], default_timezone: str = "UTC") -> EventFields:
    """Validate the event form. Raises FormError for the first wrong field."""
    summary = _one(form, "summary")
    if not summary:
        raise FormError("summary", "the event needs a title")
    if len(summary) > MAX_SUMMARY:
        raise FormError("summary", f"the title is longer than {MAX_SUMMARY} characters")
    location = _one(form, "location")
    if len(location) > MAX_LOCATION:
        raise FormError("location", f"the location is longer than {MAX_LOCATION} characters")
    description = str(form.get("description") or "").replace("\r\n", "\n").strip()
    if len(description) > MAX_DESCRIPTION:
        raise FormError("description", f"the description is longer than {MAX_DESCRIPTION} "
                                       "characters")
    tzname = _one(form, "timezone") or default_timezone
    tz = zone(tzname)
    all_day = _one(form, "all_day").lower() in ("1", "on", "true", "yes")
    start_text, end_text = _one(form, "start"), _one(form, "end")
    if not start_text:
        raise FormError("start", "the event needs a start")
    start: dt.date | dt.datetime
    end: dt.date | dt.datetime
    if all_day:
        start = _date(start_text, "start")
        last = _date(end_text, "end") if end_text else start
        if last < start:
            raise FormError("end", "the event ends before it starts")
        end = last + dt.timedelta(days=1)
    else:
        start = _datetime(start_text, "start", tz)
        end = _datetime(end_text, "end", tz) if end_text else start + dt.timedelta(hours=1)
        if end < start:
            raise FormError("end", "the event ends before it starts")
    repeat = (_one(form, "rrule") or "none").lower()
    if repeat not in REPEATS:
        raise FormError("rrule", f"repeat must be one of {', '.join(REPEATS)}")
    interval = _int(_one(form, "interval") or "1", "interval", 1, 999)
    byday: tuple[str, ...] = ()
    count: int | None = None
    until: dt.date | None = None
    if repeat != "none":
        if repeat == "weekly":
            days = {d.strip().upper()[:2] for d in _many(form, "byday") if d.strip()}
            bad = days - set(WEEKDAYS)
            if bad:
                raise FormError("byday", f"unknown weekday {sorted(bad)[0]!r}")
            start_day = WEEKDAYS[start.weekday()]
            byday = tuple(d for d in WEEKDAYS if d in days or (not days and d == start_day))
        ends = (_one(form, "ends") or "never").lower()
        if ends == "never" and _one(form, "count"):
            ends = "count"
        if ends == "never" and _one(form, "until"):
            ends = "until"
        if ends == "count":
            count = _int(_one(form, "count"), "count", 1, MAX_COUNT)
        elif ends == "until":
            until = _date(_one(form, "until"), "until")
            first = start if not isinstance(start, dt.datetime) else start.date()
            if until < first:
                raise FormError("until", "the repetition ends before the event starts")
        elif ends != "never":
            raise FormError("ends", "ends must be never, count or until")
    alarm_text = _one(form, "alarm")
    alarm = _int(alarm_text, "alarm", 0, MAX_ALARM_MINUTES) if alarm_text else None
    return EventFields(summary, start, end, all_day, tzname, location, description, repeat,
                       interval, byday, count, until, parse_attendees(_one(form, "attendees")),
                       alarm)


# -- building ----------------------------------------------------------------------------------
def _rrule(fields: EventFields) -> dict[str, object] | None:
    if fields.repeat == "none":
        return None
    rule: dict[str, object] = {"FREQ": fields.repeat.upper()}
    if fields.interval != 1:
        rule["INTERVAL"] = fields.interval
    if fields.byday:
        rule["BYDAY"] = list(fields.byday)
    if fields.count is not None:
        rule["COUNT"] = fields.count
    elif fields.until is not None:
        if fields.all_day:
            rule["UNTIL"] = fields.until
        else:  # RFC 5545 §3.3.10: UNTIL in UTC when DTSTART has a zone; the whole last day
            assert isinstance(fields.start, dt.datetime)
            last = dt.datetime.combine(fields.until, fields.start.timetz())
            rule["UNTIL"] = last.astimezone(dt.UTC)
    return rule


def _set(comp: Component, name: str, value: object, **params: str) -> None:
    comp.pop(name, None)
    if value is None or value == "":
        return
    if params:
        comp.add(name, value, parameters=params)
    else:
        comp.add(name, value)


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)


def _apply(comp: Component, fields: EventFields, *, recurring: bool, organizer: str,
           organizer_name: str) -> None:
    """Write the form's fields into one VEVENT (master or override)."""
    _set(comp, "SUMMARY", fields.summary)
    _set(comp, "LOCATION", fields.location)
    _set(comp, "DESCRIPTION", fields.description)
    comp.pop("DURATION", None)
    _set(comp, "DTSTART", fields.start)
    _set(comp, "DTEND", fields.end)
    if recurring:
        for name in ("RRULE", "EXRULE"):
            comp.pop(name, None)
        rule = _rrule(fields)
        if rule is not None:
            comp.add("RRULE", rule)
        else:
            for name in ("RDATE", "EXDATE"):
                comp.pop(name, None)
    old = attendees_of(comp)
    comp.pop("ATTENDEE", None)
    for address in fields.attendees:
        kept = old.get(address)
        if kept is not None:
            comp.add("ATTENDEE", kept)
        else:
            comp.add("ATTENDEE", f"mailto:{address}",
                     parameters={"CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT",
                                 "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"})
    if fields.attendees and "ORGANIZER" not in comp and organizer:
        if organizer_name:
            comp.add("ORGANIZER", f"mailto:{organizer}", parameters={"CN": organizer_name})
        else:
            comp.add("ORGANIZER", f"mailto:{organizer}")
    if not fields.attendees and "ORGANIZER" in comp and \
            address_of(comp["ORGANIZER"]) == organizer.lower():
        comp.pop("ORGANIZER", None)
    _set_alarm(comp, fields)


def _relative_start_alarm(alarm: Component) -> bool:
    trigger = alarm.get("TRIGGER")
    value = getattr(trigger, "dt", None)
    related = str(getattr(trigger, "params", {}).get("RELATED", "START")).upper()
    return isinstance(value, dt.timedelta) and related == "START"


def _set_alarm(comp: Component, fields: EventFields) -> None:
    comp.subcomponents = [s for s in comp.subcomponents
                          if s.name != "VALARM" or not _relative_start_alarm(s)]
    if fields.alarm is None:
        return
    alarm = icalendar.Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("DESCRIPTION", fields.summary)
    alarm.add("TRIGGER", -dt.timedelta(minutes=fields.alarm))
    comp.add_component(alarm)


def _significant(comp: Component) -> list[bytes]:
    values: list[object] = [comp.get(n) for n in _SIGNIFICANT]
    return [bytes(v.to_ical()) if hasattr(v, "to_ical") else str(v).encode()
            for v in values if v is not None and not isinstance(v, list)] + \
        [b"%d" % len(v) for v in values if isinstance(v, list)]


def _stamp(comp: Component, now: dt.datetime, bump: bool) -> None:
    _set(comp, "DTSTAMP", now)
    _set(comp, "LAST-MODIFIED", now)
    if bump:
        _set(comp, "SEQUENCE", int(comp.get("SEQUENCE", 0)) + 1)


def _finish(cal: icalendar.Calendar) -> icalendar.Calendar:
    cal.subcomponents = [c for c in cal.subcomponents if c.name != "VTIMEZONE"]
    cal.add_missing_timezones()
    cal.subcomponents.sort(key=lambda c: 0 if c.name == "VTIMEZONE" else 1)
    return cal


def new_event(fields: EventFields, uid: str, *, organizer: str = "", organizer_name: str = "",
              now: dt.datetime | None = None) -> icalendar.Calendar:
    """A new calendar object for the form (with VTIMEZONE, RFC 5545 §3.6.5)."""
    stamp = _now(now)
    cal = icalendar.Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("CREATED", stamp)
    event.add("SEQUENCE", 0)
    _apply(event, fields, recurring=True, organizer=organizer, organizer_name=organizer_name)
    _stamp(event, stamp, bump=False)
    cal.add_component(event)
    return _finish(cal)


def update_event(obj: CalendarObject, fields: EventFields, *, organizer: str = "",
                 organizer_name: str = "", now: dt.datetime | None = None
                 ) -> icalendar.Calendar:
    """The series (or single event) changed by the form; everything else kept."""
    cal = copy.deepcopy(obj.calendar)
    master = next((c for c in cal.subcomponents
                   if c.name == "VEVENT" and "RECURRENCE-ID" not in c), None)
    if master is None:
        raise FormError("summary", "this event has only changed occurrences and no series "
                                   "to edit; edit one occurrence instead")
    before = _significant(master)
    start_before, rule_before = master.get("DTSTART"), master.get("RRULE")
    _apply(master, fields, recurring=True, organizer=organizer, organizer_name=organizer_name)
    start_changed = _ical(start_before) != _ical(master.get("DTSTART"))
    rule_changed = _ical(rule_before) != _ical(master.get("RRULE"))
    if start_changed or rule_changed:  # old RECURRENCE-IDs no longer name instances
        cal.subcomponents = [c for c in cal.subcomponents
                             if not (c.name == "VEVENT" and "RECURRENCE-ID" in c)]
        master.pop("EXDATE", None)
    _stamp(master, _now(now), bump=before != _significant(master))
    return _finish(cal)


def _ical(prop: object) -> bytes:
    if prop is None:
        return b""
    if isinstance(prop, list):
        return b"|".join(_ical(p) for p in prop)
    to_ical = getattr(prop, "to_ical", None)
    return to_ical() if callable(to_ical) else str(prop).encode()


def rid_value(rid: str, master_start: dt.date | dt.datetime) -> dt.date | dt.datetime:
    """A `rid_text` token as a RECURRENCE-ID in the master's frame (RFC 5545 §3.8.4.4: same
    value type as DTSTART; a zone's time in that zone)."""
    try:
        if len(rid) == 8:
            value: dt.date | dt.datetime = dt.datetime.strptime(rid, "%Y%m%d").date()
        elif rid.endswith("Z"):
            value = dt.datetime.strptime(rid, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        else:
            value = dt.datetime.strptime(rid, "%Y%m%dT%H%M%S")
    except ValueError:
        raise FormError("rid", f"not an occurrence: {rid!r}") from None
    if not isinstance(master_start, dt.datetime):
        return value if not isinstance(value, dt.datetime) else value.date()
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, master_start.timetz())
    if master_start.tzinfo is not None:
        if value.tzinfo is None:
            return value.replace(tzinfo=master_start.tzinfo)
        return value.astimezone(master_start.tzinfo)
    return value.replace(tzinfo=None) if value.tzinfo is None else \
        value.astimezone(dt.UTC).replace(tzinfo=None)


def _find_override(cal: icalendar.Calendar, rid: str) -> Component | None:
    from rmail.ical.occurrences import rid_text

    for comp in cal.subcomponents:
        if comp.name == "VEVENT" and "RECURRENCE-ID" in comp and \
                rid_text(getattr(comp["RECURRENCE-ID"], "dt", None)) == rid:
            return comp
    return None


def _master(cal: icalendar.Calendar) -> Component:
    master = next((c for c in cal.subcomponents
                   if c.name == "VEVENT" and "RECURRENCE-ID" not in c), None)
    if master is None or "DTSTART" not in master:
        raise FormError("rid", "this event is not a series")
    return master


def _master_start(master: Component) -> dt.date:
    """The series' DTSTART (a date or a date-time), which every RECURRENCE-ID must match."""
    start = getattr(master.get("DTSTART"), "dt", None)
    if not isinstance(start, dt.date):
        raise FormError("rid", "this series has no usable start")
    return start


def override_occurrence(obj: CalendarObject, rid: str, fields: EventFields, *,
                        organizer: str = "", organizer_name: str = "",
                        now: dt.datetime | None = None) -> icalendar.Calendar:
    """One occurrence changed (RFC 5545 §3.8.4.4): a VEVENT with RECURRENCE-ID that starts
    as a copy of the master (or of the existing override) with the form applied."""
    cal = copy.deepcopy(obj.calendar)
    stamp = _now(now)
    comp = _find_override(cal, rid)
    if comp is None:
        master = _master(cal)
        value = rid_value(rid, _master_start(master))
        comp = icalendar.Event()
        for name, prop in master.items():
            if name not in ("RRULE", "RDATE", "EXDATE", "EXRULE", "DTSTART", "DTEND",
                            "DURATION"):
                comp[name] = copy.deepcopy(prop)
        for sub in master.subcomponents:
            comp.add_component(copy.deepcopy(sub))
        comp.add("RECURRENCE-ID", value)
        cal.add_component(comp)
    _apply(comp, dataclasses.replace(fields, repeat="none"), recurring=False,
           organizer=organizer, organizer_name=organizer_name)
    _stamp(comp, stamp, bump=True)
    return _finish(cal)


def remove_occurrence(obj: CalendarObject, rid: str, now: dt.datetime | None = None
                      ) -> icalendar.Calendar:
    """One occurrence deleted: an EXDATE on the master, its override (if any) removed."""
    cal = copy.deepcopy(obj.calendar)
    master = _master(cal)
    value = rid_value(rid, _master_start(master))
    override = _find_override(cal, rid)
    if override is not None:
        cal.subcomponents.remove(override)
    master.add("EXDATE", value)
    _stamp(master, _now(now), bump=True)
    return cal


def set_partstat(obj: CalendarObject, addresses: Iterable[str], partstat: str,
                 now: dt.datetime | None = None) -> icalendar.Calendar:
    """The user's answer (RFC 5545 §3.2.12) on every component that lists one of their
    addresses; FormError when they are not invited."""
    partstat = partstat.strip().upper()
    if partstat not in PARTSTATS:
        raise FormError("response", f"response must be one of {', '.join(PARTSTATS)}")
    own = {a.lower() for a in addresses}
    cal = copy.deepcopy(obj.calendar)
    found = False
    for comp in cal.subcomponents:
        if comp.name != obj.component:
            continue
        for address, att in attendees_of(comp).items():
            if address in own:
                att.params["PARTSTAT"] = partstat
                att.params.pop("RSVP", None)
                found = True
        if found:
            _set(comp, "DTSTAMP", _now(now))
    if not found:
        raise FormError("response", "you are not an attendee of this event")
    return cal


# -- prefilling ---------------------------------------------------------------------------------
def _first_alarm_minutes(comp: Component) -> str:
    for sub in comp.subcomponents:
        if sub.name == "VALARM" and _relative_start_alarm(sub):
            delta = getattr(sub["TRIGGER"], "dt", None)
            if isinstance(delta, dt.timedelta):  # `_relative_start_alarm` checked it
                return str(max(0, int(-delta.total_seconds() // 60)))
    return ""


def form_values(comp: Component, timezone: str, *, rid: str = "") -> dict[str, object]:
    """The edit form's values for one VEVENT (the master, or an override / one occurrence
    when `rid` is given), times in `timezone` unless the event has its own zone."""
    start = getattr(comp.get("DTSTART"), "dt", None)
    end = getattr(comp.get("DTEND"), "dt", None)
    duration = getattr(comp.get("DURATION"), "dt", None)
    values: dict[str, object] = {
        "summary": str(comp.get("SUMMARY", "")), "location": str(comp.get("LOCATION", "")),
        "description": str(comp.get("DESCRIPTION", "")), "timezone": timezone,
        "rrule": "none", "interval": "1", "byday": [], "ends": "never", "count": "",
        "until": "", "alarm": _first_alarm_minutes(comp), "rid": rid,
        "attendees": ", ".join(attendees_of(comp)), "all_day": False,
    }
    if end is None and start is not None:
        end = start + (duration if isinstance(duration, dt.timedelta) else
                       dt.timedelta(days=1) if not isinstance(start, dt.datetime) else
                       dt.timedelta(0))
    if isinstance(start, dt.datetime):
        if start.tzinfo is not None and hasattr(start.tzinfo, "key"):
            values["timezone"] = start.tzinfo.key
        elif start.tzinfo is not None:
            start = start.astimezone(zone(timezone))
            end = end.astimezone(zone(timezone)) if isinstance(end, dt.datetime) and \
                end.tzinfo is not None else end
        values["start"] = start.strftime("%Y-%m-%dT%H:%M")
        if isinstance(end, dt.datetime):
            if end.tzinfo is not None and start.tzinfo is not None:
                end = end.astimezone(start.tzinfo)
            values["end"] = end.strftime("%Y-%m-%dT%H:%M")
    elif isinstance(start, dt.date):
        values["all_day"] = True
        values["start"] = start.isoformat()
        last = (end - dt.timedelta(days=1)) if isinstance(end, dt.date) and end > start \
            else start
        values["end"] = last.isoformat() if not isinstance(last, dt.datetime) else \
            last.date().isoformat()
    rule = comp.get("RRULE")
    if isinstance(rule, list):
        rule = rule[0] if rule else None
    if rule is not None and not rid:
        freq = str((rule.get("FREQ") or ["none"])[0]).lower()
        values["rrule"] = freq if freq in REPEATS else "none"
        values["interval"] = str((rule.get("INTERVAL") or [1])[0])
        values["byday"] = [str(d)[-2:].upper() for d in rule.get("BYDAY", [])]
        if rule.get("COUNT"):
            values["ends"], values["count"] = "count", str(rule["COUNT"][0])
        elif rule.get("UNTIL"):
            until = rule["UNTIL"][0]
            if isinstance(until, dt.datetime) and isinstance(start, dt.datetime) and \
                    until.tzinfo is not None and start.tzinfo is not None:
                until = until.astimezone(start.tzinfo)
            values["ends"] = "until"
            values["until"] = (until.date() if isinstance(until, dt.datetime)
                               else until).isoformat()
    return values
