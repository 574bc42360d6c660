"""Importing a whole `.ics` file into one calendar, and exporting one as a file. Pure.

`prepare_import` checks everything before anything is stored (the caller then writes the
objects in one all-or-nothing store call): the structure line by line (every line a
`NAME[;PARAM=...]:value` content line, BEGIN/END nested and matched, one VCALENDAR), then each
property value, then each object (RFC 4791 §4.1: one UID per object, one component type), so
a refusal names the physical line that is wrong (`ImportRefused.line`) and the reason. An
iTIP `METHOD` (PUBLISH exports) is dropped; VTIMEZONEs travel with the objects that use them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import icalendar

from rmail.ical.export import merge_calendars
from rmail.ical.parse import (
    OBJECT_COMPONENTS,
    CalendarObject,
    InvalidCalendar,
    parse_object,
    property_line_ok,
    split_objects,
)

MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_IMPORT_OBJECTS = 20_000
_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_CONTAINERS = {"VCALENDAR", "VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VTIMEZONE",
               "STANDARD", "DAYLIGHT", "VALARM", "VAVAILABILITY", "AVAILABLE", "VLOCATION",
               "VRESOURCE", "PARTICIPANT"}


class ImportRefused(InvalidCalendar):
    """The file cannot be imported; `line` is the 1-based physical line at fault, if known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.reason = message


@dataclass(frozen=True)
class ImportItem:
    uid: str
    component: str
    data: bytes
    obj: CalendarObject
    line: int          # where its first component begins in the file


@dataclass(frozen=True)
class _Line:
    number: int        # physical line of its start
    text: str


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRefused("not UTF-8 text", line) from None


def _logical_lines(text: str) -> list[_Line]:
    """Unfold (RFC 5545 §3.1), remembering where each content line starts."""
    out: list[_Line] = []
    for number, raw in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        if raw[:1] in (" ", "\t"):
            if not out:
                raise ImportRefused("a continuation line with nothing to continue", number)
            out[-1] = _Line(out[-1].number, out[-1].text + raw[1:])
        elif raw.strip():
            out.append(_Line(number, raw))
    return out


def _name_of(line: _Line) -> str:
    """The property name of a content line; ImportRefused when it is not one."""
    colon = _value_start(line.text)
    if colon < 0:
        raise ImportRefused(f"not a content line (no ':'): {line.text[:60]!r}", line.number)
    name = re.split(r"[;:]", line.text, maxsplit=1)[0]
    if not _NAME.match(name):
        raise ImportRefused(f"invalid property name {name[:40]!r}", line.number)
    return name.upper()


def _value_start(text: str) -> int:
    """Index of the ':' that ends name and parameters (a ':' inside a quoted parameter value
    does not count)."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            return i
    return -1


def check_structure(lines: list[_Line]) -> None:
    """BEGIN/END matched and nested, exactly one VCALENDAR around everything."""
    if not lines:
        raise ImportRefused("the file is empty")
    stack: list[tuple[str, int]] = []
    calendars = 0
    for line in lines:
        name = _name_of(line)
        value = line.text[_value_start(line.text) + 1:].strip().upper()
        if name == "BEGIN":
            if not value:
                raise ImportRefused("BEGIN without a component name", line.number)
            if not stack and value != "VCALENDAR":
                raise ImportRefused(f"BEGIN:{value} outside BEGIN:VCALENDAR", line.number)
            if value == "VCALENDAR":
                if stack:
                    raise ImportRefused("VCALENDAR inside another component", line.number)
                calendars += 1
                if calendars > 1:
                    raise ImportRefused("a second VCALENDAR: import one calendar per file",
                                        line.number)
            stack.append((value, line.number))
        elif name == "END":
            if not stack:
                raise ImportRefused(f"END:{value} without a matching BEGIN", line.number)
            opened, where = stack.pop()
            if opened != value:
                raise ImportRefused(f"END:{value} does not close BEGIN:{opened} "
                                    f"(line {where})", line.number)
        elif not stack:
            raise ImportRefused(f"{name} outside BEGIN:VCALENDAR", line.number)
    if stack:
        opened, where = stack[-1]
        raise ImportRefused(f"BEGIN:{opened} is never closed", where)


def _locate(lines: list[_Line], reason: str) -> ImportRefused:
    """The first property line whose value does not parse on its own."""
    for line in lines:
        name = _name_of(line)
        if name in ("BEGIN", "END"):
            continue
        if not property_line_ok(line.text):
            return ImportRefused(f"invalid {name} value ({reason})", line.number)
    return ImportRefused(reason)


def _component_lines(lines: list[_Line]) -> dict[tuple[str, str], int]:
    """(UID, component) → line of the BEGIN of the first component that carries it."""
    out: dict[tuple[str, str], int] = {}
    begin, kind = 0, ""
    for line in lines:
        name = _name_of(line)
        upper = line.text.upper()
        if name == "BEGIN" and upper[6:].strip() in OBJECT_COMPONENTS:
            begin, kind = line.number, upper[6:].strip()
        elif name == "UID":
            uid = line.text[_value_start(line.text) + 1:].strip()
            out.setdefault((uid, kind), begin)
    return out


def prepare_import(data: bytes, allowed: Iterable[str] = ("VEVENT", "VTODO", "VJOURNAL")
                   ) -> list[ImportItem]:
    """Every object of the file, validated, or ImportRefused for the first fault."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB")
    text = _decode(data)
    lines = _logical_lines(text)
    if lines and re.match(r"BEGIN:V(EVENT|TODO|JOURNAL)\s*$", lines[0].text, re.I):
        # a bare component (some exports): wrapped, line numbers kept
        lines = [_Line(0, "BEGIN:VCALENDAR"), _Line(0, "VERSION:2.0"),
                 _Line(0, "PRODID:-//rmail//import//EN"), *lines, _Line(0, "END:VCALENDAR")]
        text = "\r\n".join(line.text for line in lines) + "\r\n"
    check_structure(lines)
    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception as exc:
        raise _locate(lines, str(exc)) from None
    for comp in cal.walk():
        errors = getattr(comp, "errors", None)
        if errors:
            name, message = errors[0]
            bad = _locate([ln for ln in lines if _name_of(ln) == str(name).upper()],
                          f"{comp.name} {name}: {message}")
            raise bad
    cal.pop("METHOD", None)
    starts = _component_lines(lines)
    allowed_set = {a.upper() for a in allowed}
    items: list[ImportItem] = []
    seen: dict[str, int] = {}
    for comp in cal.subcomponents:
        if comp.name in OBJECT_COMPONENTS and not str(comp.get("UID", "")).strip():
            line = next((ln.number for ln in lines if ln.text.upper().strip() ==
                         f"BEGIN:{comp.name}"), None)
            raise ImportRefused(f"{comp.name} without UID", line)
    for part in split_objects(cal):
        body = part.to_ical()
        try:
            obj = parse_object(body)
        except InvalidCalendar as exc:
            raise ImportRefused(str(exc)) from None
        line = starts.get((obj.uid, obj.component), 0)
        if obj.component not in allowed_set:
            raise ImportRefused(f"{obj.component} {obj.uid!r}: this calendar holds only "
                                + ", ".join(sorted(allowed_set)), line or None)
        if obj.uid in seen:
            raise ImportRefused(f"UID {obj.uid!r} is used by two kinds of component "
                                f"(line {seen[obj.uid]})", line or None)
        seen[obj.uid] = line
        items.append(ImportItem(obj.uid, obj.component, body, obj, line))
        if len(items) > MAX_IMPORT_OBJECTS:
            raise ImportRefused(f"more than {MAX_IMPORT_OBJECTS} objects in one file")
    if not items:
        raise ImportRefused("no VEVENT, VTODO or VJOURNAL to import")
    return items


def export_calendar(objects: Iterable[bytes], name: str = "", color: str = "") -> bytes:
    """One VCALENDAR with every object's components (VTIMEZONEs once per TZID), named for
    the clients that show it (`X-WR-CALNAME`, `X-APPLE-CALENDAR-COLOR`)."""
    headers = {}
    if name:
        headers["X-WR-CALNAME"] = name
    if color:
        headers["X-APPLE-CALENDAR-COLOR"] = color
    return merge_calendars(objects, headers)
