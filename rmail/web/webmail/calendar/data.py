"""What the calendar pages read from the store: the user's calendars with their colours and
visibility (preferences.json `calendar_visible.{name}`), and the occurrences of a period.

Synchronous (store reads): handlers call these through `page.run`. Visibility lives in the
user's preferences as `{"calendar_visible": {"work": false, ...}}`; a calendar not listed is
visible. Occurrences come from the index's time-range pre-filter (`CalendarHome.candidates`,
no file opened for an event outside the period) and a per-process `ParsedCache`, so a month
view costs what it shows, not the size of the calendars.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rmail.ical.occurrences import Occurrence, ParsedCache, Source, local_bounds, occurrences
from rmail.store.calendars import SCHEDULE_INBOX, CalendarHome

__all__ = ["CACHE", "CalendarInfo", "calendars", "color_of", "load_occurrences",
           "visible_map", "week_start"]

VISIBLE_KEY = "calendar_visible"
CACHE = ParsedCache()
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")
DEFAULT_COLOR = "#3a87ad"
WEEKDAY_NAMES = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
                 "saturday": 5, "sunday": 6}


@dataclass(frozen=True)
class CalendarInfo:
    name: str
    displayname: str
    color: str              # #rrggbb
    visible: bool
    components: tuple[str, ...]
    inbox: bool             # the Schedule-Inbox (invitations)
    default: bool

    @property
    def events(self) -> bool:
        return "VEVENT" in self.components


def color_of(value: object) -> str:
    """A calendar colour as `#rrggbb` (CalDAV clients store `#rrggbbaa`); a default for
    anything else, so nothing odd reaches the stylesheet."""
    text = str(value or "")
    if _COLOR.match(text):
        return text[:7].lower()
    return DEFAULT_COLOR


def visible_map(preferences: dict[str, Any]) -> dict[str, bool]:
    value = preferences.get(VISIBLE_KEY)
    if not isinstance(value, dict):
        return {}
    return {str(k): bool(v) for k, v in value.items()}


def week_start(preferences: dict[str, Any]) -> int:
    """0 = Monday (the default) ... 6 = Sunday, from the settings' `week_start`."""
    value = preferences.get("week_start", 0)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in WEEKDAY_NAMES:
            return WEEKDAY_NAMES[lowered]
        value = int(lowered) if lowered.isdigit() else 0
    return value if isinstance(value, int) and 0 <= value <= 6 else 0


def calendars(home: CalendarHome, preferences: dict[str, Any]) -> list[CalendarInfo]:
    """Every calendar of the user, the default first, the invitations inbox last."""
    home.ensure_defaults()
    shown = visible_map(preferences)
    out: list[CalendarInfo] = []
    for name in home.names():
        try:
            meta = home.get(name).meta()
        except Exception:  # a calendar deleted meanwhile, or an unreadable one
            continue
        comps = tuple(str(c) for c in (meta.get("components") or
                                       ("VEVENT", "VTODO", "VJOURNAL")))
        out.append(CalendarInfo(name, str(meta.get("displayname") or name),
                                color_of(meta.get("color")), shown.get(name, True), comps,
                                name == SCHEDULE_INBOX, name == "default"))
    out.sort(key=lambda c: (not c.default, c.inbox, c.displayname.lower(), c.name))
    return out


def _reader(path: str) -> Callable[[], bytes]:
    def read() -> bytes:
        with open(path, "rb") as f:
            return f.read()
    return read


def _sources(home: CalendarHome, calendar: str, lo: dt.datetime, hi: dt.datetime
             ) -> list[Source]:
    """Only objects the index says may overlap; a file is read only on a cache miss."""
    objects = str(home.get(calendar).layout.objects_dir) + os.sep
    scope = str(home.dir)
    return [Source(calendar, name, str(entry.get("etag", "")), _reader(objects + name), scope)
            for name, entry in home.candidates(calendar, lo, hi, component="VEVENT")]


def load_occurrences(home: CalendarHome, names: list[str], first: dt.date, last: dt.date,
                     tz: dt.tzinfo) -> list[Occurrence]:
    """The occurrences in the local days [first, last] of the calendars `names`."""
    lo, hi = local_bounds(first, last, tz)
    sources: list[Source] = []
    for name in names:
        try:
            sources.extend(_sources(home, name, lo, hi))
        except Exception:  # deleted meanwhile: nothing to show from it
            continue
    return occurrences(sources, first, last, tz, CACHE)
