"""Calendars: the storage core for CalDAV, iMIP and reminders (reference manual, CalDAV,
"Storage layout"). Synchronous and protocol-free; the file format, locks and sync positions are
described in `rmail.store.davstore`, the paths in `rmail.store.layout`.

```
calendars/
  default/
    calendar.json        name, color, description (+ components, dead properties)
    index.json           ctag, sync_token, per-event metadata, tombstones
    events/{uid}.ics
  Schedule-Inbox/        incoming invitations land here
```

Every object is validated and its metadata (first start, last end, recurrence, alarms)
computed once at PUT (`rmail.ical.meta`), so a time-range query reads the index and opens only
the objects whose bounds can overlap.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from rmail.ical.meta import object_meta
from rmail.ical.parse import CalendarObject, InvalidCalendar, parse_object
from rmail.ical.recur import FLOATING_SLACK
from rmail.store import fsutil
from rmail.store.davstore import HOME_LOCK, Collection, Home, Kind, check_name, notifier
from rmail.store.errors import InvalidValue
from rmail.store.events import EventBus
from rmail.store.layout import Layout

DEFAULT_CALENDAR = "default"
SCHEDULE_INBOX = "Schedule-Inbox"
CALENDAR_KIND = Kind("calendar.json", "events", "calendar")
COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
MAX_OBJECT_BYTES = 10 * 1024 * 1024

__all__ = ["CALENDAR_KIND", "DEFAULT_CALENDAR", "SCHEDULE_INBOX", "CalendarHome",
           "CalendarStore", "InvalidCalendar", "check_name"]


def _slack(entry: dict[str, Any]) -> int:
    return int(FLOATING_SLACK.total_seconds()) if entry.get("floating") else 0


def may_overlap(entry: dict[str, Any], lo: int | None, hi: int | None) -> bool:
    """From index metadata alone: can this object have an instance in [lo, hi)?"""
    start = entry.get("start")
    if start is None:
        return True
    slack = _slack(entry)
    end = entry.get("end")
    if hi is not None and start - slack >= hi:
        return False
    return not (lo is not None and end is not None and end + slack < lo)


class _Window:
    """One index version's objects sorted by (start - slack), for time-range queries that
    cost O(log n + objects starting before the range's end) instead of O(n)."""

    def __init__(self, objects: dict[str, dict[str, Any]]) -> None:
        rows: list[tuple[int, float, str]] = []
        self.timeless: list[str] = []
        for name, entry in objects.items():
            start = entry.get("start")
            if start is None:
                self.timeless.append(name)
                continue
            slack = _slack(entry)
            end = entry.get("end")
            rows.append((start - slack, math.inf if end is None else end + slack, name))
        rows.sort(key=lambda row: row[0])
        self.starts = [row[0] for row in rows]
        self.rows = rows
        self.objects = objects

    def query(self, lo: int | None, hi: int | None) -> Iterator[tuple[str, dict[str, Any]]]:
        """What `may_overlap` keeps: start - slack < hi and end + slack >= lo."""
        objects = self.objects
        stop = bisect.bisect_left(self.starts, hi) if hi is not None else len(self.rows)
        rows = self.rows[:stop]
        if lo is None:
            names = [name for _, _, name in rows]
        else:
            names = [name for _, end, name in rows if end >= lo]
        for name in self.timeless:
            yield name, objects[name]
        for name in names:
            yield name, objects[name]


class _Windows:
    """`_Window`s per collection, rebuilt when its index is a new object (any change)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.items: OrderedDict[str, tuple[int, _Window]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str, index: Any) -> _Window:
        with self.lock:
            hit = self.items.get(key)
            if hit is not None and hit[0] == id(index.objects) and \
                    hit[1].objects is index.objects:
                self.items.move_to_end(key)
                return hit[1]
        window = _Window(index.objects)
        with self.lock:
            self.items[key] = (id(index.objects), window)
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return window


_WINDOWS = _Windows()


REMINDERS_FILE = "reminders.json"
REMINDERS_VERSION = 1


class CalendarHome(Home):
    """One user's calendars."""

    def reminders_sent(self) -> dict[str, int]:
        """Alarm firings already delivered (key -> time sent), so a reminder goes out once per
        firing even across restarts."""
        try:
            doc = fsutil.read_json(self.dir / REMINDERS_FILE, version=REMINDERS_VERSION)
        except FileNotFoundError:
            return {}
        sent = doc.get("sent") if isinstance(doc, dict) else None
        return dict(sent) if isinstance(sent, dict) else {}

    def save_reminders_sent(self, sent: dict[str, int]) -> None:
        fsutil.write_json(self.dir / REMINDERS_FILE,
                          {"version": REMINDERS_VERSION, "sent": sent})

    def ensure_defaults(self) -> None:
        """`default` and `Schedule-Inbox`, created on the user's first use (cheap afterwards;
        a calendar the user deleted later is not forced back)."""
        if (self.dir / HOME_LOCK).exists():
            return
        self.create(DEFAULT_CALENDAR, {"displayname": "Calendar", "color": "#3a87adff",
                                       "description": "", "components": list(COMPONENTS)},
                    exist_ok=True)
        self.create(SCHEDULE_INBOX, {"displayname": "Invitations", "color": "#e67e22ff",
                                     "description": "Incoming invitations",
                                     "components": list(COMPONENTS), "kind": "inbox"},
                    exist_ok=True)

    def create_calendar(self, name: str, *, displayname: str | None = None,
                        color: str | None = None, description: str | None = None,
                        components: list[str] | None = None,
                        props: dict[str, str] | None = None) -> Collection:
        comps = [c.upper() for c in (components or COMPONENTS)]
        for comp in comps:
            if comp not in COMPONENTS:
                raise InvalidValue(f"unsupported calendar component {comp!r}")
        meta: dict[str, Any] = {"displayname": displayname if displayname is not None else name,
                                "color": color or "", "description": description or "",
                                "components": comps}
        if props:
            meta["props"] = dict(props)
        return self.create(name, meta)

    def put_object(self, calendar: str, name: str, data: bytes, *,
                   if_match: str | None = None, if_none_match: str | None = None,
                   obj: CalendarObject | None = None) -> tuple[str, bool, CalendarObject]:
        """Validate and store one calendar object; returns (etag, created, parsed object)."""
        if len(data) > MAX_OBJECT_BYTES:
            raise InvalidCalendar(f"calendar object larger than {MAX_OBJECT_BYTES} bytes")
        coll = self.get(calendar)
        if obj is None:
            obj = parse_object(data)
        allowed = coll.meta().get("components") or list(COMPONENTS)
        if obj.component not in allowed:
            raise InvalidCalendar(f"{obj.component} is not supported by this calendar "
                                  "(supported-calendar-component)")
        meta = object_meta(obj)
        etag, created = coll.put(name, data, meta, if_match=if_match,
                                 if_none_match=if_none_match)
        return etag, created, obj

    def candidates(self, calendar: str, lo: dt.datetime | None, hi: dt.datetime | None,
                   component: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """Objects whose index bounds may overlap [lo, hi), without opening any file: a
        binary search over the objects sorted by start (kept per index version, see
        `_Windows`), then a test of the ends of those that start before `hi`."""
        coll = self.get(calendar)
        index = coll.index()
        lo_s = int(lo.timestamp()) if lo is not None else None
        hi_s = int(hi.timestamp()) + 1 if hi is not None else None
        for name, entry in _WINDOWS.get(str(coll.layout.dir), index).query(lo_s, hi_s):
            if component is None or entry.get("comp") == component:
                yield name, entry

    def find_uid(self, uid: str, calendars: list[str] | None = None
                 ) -> tuple[str, str] | None:
        """(calendar, resource name) of the object with this UID, if any."""
        for cal in calendars or self.names():
            try:
                owner = self.get(cal).index().uid_owner(uid)
            except (FileNotFoundError, OSError):
                continue
            if owner is not None:
                return cal, owner
        return None


class CalendarStore:
    """Entry point: every user's calendar home under one mail root. Cheap to create; parsed
    indexes are cached per process (`rmail.store.davstore`)."""

    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        self.layout = Layout(mail_root)
        self.events: EventBus | None = None  # set by `Services`: writes are published

    def home(self, domain: str, username: str) -> CalendarHome:
        return CalendarHome(self.layout.calendars_dir(domain, username), CALENDAR_KIND,
                            notifier(self.events, domain, username, "calendar"))
