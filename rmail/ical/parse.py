"""Turn bytes into a validated calendar object resource (RFC 4791 §4.1).

`parse_object` is strict (what a CalDAV PUT accepts, with a reason a client can show); the
`lenient` path repairs what real-world invitations get wrong (a leftover quoted-printable `=3D`,
an empty `TZID=` parameter) by dropping or fixing single lines, for iMIP import where the
sender cannot be asked to try again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import icalendar
from icalendar.cal import Component

OBJECT_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY")


class InvalidCalendar(ValueError):
    """The data is not an acceptable iCalendar object; `str(exc)` is the reason for the client."""


@dataclass(frozen=True)
class CalendarObject:
    """A parsed calendar object resource: one UID, one component type."""

    calendar: icalendar.Calendar
    uid: str
    component: str          # VEVENT, VTODO, VJOURNAL or VFREEBUSY
    method: str | None      # iTIP METHOD, when present (not allowed in a stored object)

    @property
    def components(self) -> list[Component]:
        return [c for c in self.calendar.subcomponents if c.name == self.component]

    @property
    def master(self) -> Component | None:
        for comp in self.components:
            if "RECURRENCE-ID" not in comp:
                return comp
        return None


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse_calendar(data: bytes | str, *, lenient: bool = False) -> icalendar.Calendar:
    """Parse one VCALENDAR. Raises `InvalidCalendar` with a reason."""
    text = _decode(data) if isinstance(data, bytes) else data
    if "BEGIN:VCALENDAR" not in text.upper():
        if not (lenient and re.search(r"^BEGIN:V(EVENT|TODO|JOURNAL)", text, re.I | re.M)):
            raise InvalidCalendar("not an iCalendar object (no BEGIN:VCALENDAR)")
        # a bare component (some exports): wrap it
        text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//rmail//import//EN\r\n"
                + text.strip() + "\r\nEND:VCALENDAR\r\n")
    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception as exc:
        if not lenient:
            raise InvalidCalendar(f"invalid iCalendar data: {exc}") from None
        cal = _repair(text, exc)
    if not isinstance(cal, icalendar.Calendar) or cal.name != "VCALENDAR":
        raise InvalidCalendar("the top-level component must be VCALENDAR")
    for comp in cal.walk():
        errors = getattr(comp, "errors", None)
        if not errors:
            continue
        if not lenient:
            name, message = errors[0]
            raise InvalidCalendar(f"{comp.name} {name}: {message}")
        for name, _message in errors:  # lenient: drop what cannot be read
            comp.pop(name, None)
        comp.errors = []
    return cal


_PARAM_EMPTY_TZID = re.compile(r";TZID=(?=[:;])", re.IGNORECASE)


def _unfold(text: str) -> list[str]:
    lines: list[str] = []
    for raw in re.split(r"\r\n|\r|\n", text):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw.strip():
            lines.append(raw)
    return lines


def property_line_ok(line: str) -> bool:
    """Does one content line parse as a property on its own (its value included)?"""
    try:
        event = icalendar.Event.from_ical(f"BEGIN:VEVENT\r\n{line}\r\nEND:VEVENT\r\n")
    except Exception:
        return False
    return not getattr(event, "errors", None)


def _without_timezones(lines: list[str]) -> list[str]:
    out: list[str] = []
    skipping = False
    for line in lines:
        upper = line.upper()
        if upper.startswith("BEGIN:VTIMEZONE"):
            skipping = True
        elif upper.startswith("END:VTIMEZONE"):
            skipping = False
        elif not skipping:
            out.append(line)
    return out


def _repair(text: str, first_error: Exception) -> icalendar.Calendar:
    """Fix or drop the lines that make the parser fail (only on the lenient path)."""
    kept: list[str] = []
    for line in _unfold(text):
        head = line.split(":", 1)[0].upper()
        if head.startswith(("BEGIN", "END")):
            kept.append(line)
            continue
        if property_line_ok(line):
            kept.append(line)
            continue
        fixed = _PARAM_EMPTY_TZID.sub("", line).replace("=3D", "=")
        if fixed != line and property_line_ok(fixed):
            kept.append(fixed)
        # else: drop the property; the rest of the invitation is still useful
    for attempt in (kept, _without_timezones(kept)):
        try:
            return icalendar.Calendar.from_ical("\r\n".join(attempt) + "\r\n")
        except Exception:
            continue
    raise InvalidCalendar(f"invalid iCalendar data: {first_error}") from None


def parse_object(data: bytes | str, *, lenient: bool = False,
                 allow_method: bool = False) -> CalendarObject:
    """Parse and validate a calendar object resource (RFC 4791 §4.1): components of one type
    that all share one UID; VTIMEZONEs allowed beside them."""
    cal = parse_calendar(data, lenient=lenient)
    method = str(cal.get("METHOD")) if cal.get("METHOD") is not None else None
    if method and not allow_method:
        raise InvalidCalendar("a stored calendar object must not carry METHOD (RFC 4791 §4.1)")
    kinds = {c.name for c in cal.subcomponents if c.name in OBJECT_COMPONENTS}
    if not kinds:
        raise InvalidCalendar("no VEVENT, VTODO, VJOURNAL or VFREEBUSY component")
    if len(kinds) > 1:
        raise InvalidCalendar("one calendar object must hold one component type, found "
                              + ", ".join(sorted(kinds)))
    kind = kinds.pop()
    uids = {str(c.get("UID", "")).strip() for c in cal.subcomponents if c.name == kind}
    if "" in uids:
        if not lenient:
            raise InvalidCalendar(f"{kind} without UID")
        uids.discard("")
        if not uids:  # e.g. Exchange CDO invitations: a stable UID from the content
            import hashlib

            raw = data if isinstance(data, bytes) else data.encode("utf-8", "replace")
            uids = {"rmail-" + hashlib.sha256(raw).hexdigest()[:32]}
        for comp in cal.subcomponents:
            if comp.name == kind and not str(comp.get("UID", "")).strip():
                comp["UID"] = next(iter(uids))
    if len(uids) > 1:
        raise InvalidCalendar("all components of one calendar object must share one UID")
    return CalendarObject(cal, uids.pop(), kind, method)


def serialize(cal: icalendar.Calendar) -> bytes:
    return cal.to_ical()


def split_objects(cal: icalendar.Calendar) -> list[icalendar.Calendar]:
    """One calendar object per UID and component type (RFC 4791 §4.1), each with the
    VTIMEZONEs it needs: how a whole exported calendar (or an import) becomes resources."""
    timezones = {str(c.get("TZID", "")): c for c in cal.subcomponents if c.name == "VTIMEZONE"}
    groups: dict[tuple[str, str], list[Component]] = {}
    for comp in cal.subcomponents:
        if comp.name in OBJECT_COMPONENTS:
            groups.setdefault((str(comp.get("UID", "")).strip(), comp.name), []).append(comp)
    out: list[icalendar.Calendar] = []
    for comps in groups.values():
        obj = icalendar.Calendar()
        for key in ("VERSION", "PRODID", "CALSCALE"):
            if key in cal:
                obj[key] = cal[key]
        if "VERSION" not in obj:
            obj.add("VERSION", "2.0")
        if "PRODID" not in obj:
            obj.add("PRODID", "-//rmail//import//EN")
        used = {str(p.params.get("TZID")) for c in comps for p in _all_props(c)
                if getattr(p, "params", None) and p.params.get("TZID")}
        for tzid in sorted(used):
            if tzid in timezones:
                obj.add_component(timezones[tzid])
        for comp in comps:
            obj.add_component(comp)
        out.append(obj)
    return out


def _all_props(comp: Component) -> list[Any]:
    values: list[Any] = []
    for value in comp.values():
        values.extend(value if isinstance(value, list) else [value])
    return values
