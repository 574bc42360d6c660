"""Helpers for the calendar page tests: the CSRF token of a page, events stored as a CalDAV
client would store them, and readers for the manual's selectors."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from rmail.store.calendars import CalendarHome, CalendarStore

DOMAIN = "example.com"


def csrf_of(text: str) -> str:
    match = re.search(r'<meta name="csrf" content="([^"]+)"', text)
    assert match, "no csrf meta on the page"
    return match.group(1)


def home_of(services: Any, user: str) -> CalendarHome:
    home = CalendarStore(services.config.mail_root).home(DOMAIN, user)
    home.ensure_defaults()
    return home


def ics(uid: str, start: str, end: str = "", summary: str = "Meeting", extra: str = "",
        tzid: str = "") -> bytes:
    param = f";TZID={tzid}" if tzid else ""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART{param}:{start}"]
    if end:
        lines.append(f"DTEND{param}:{end}")
    lines.append(f"SUMMARY:{summary}")
    lines += [line for line in extra.strip().splitlines() if line]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


def put(services: Any, user: str, uid: str, data: bytes, calendar: str = "default") -> str:
    etag, _, _ = home_of(services, user).put_object(calendar, f"{uid}.ics", data)
    return etag


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def elements(text: str, cls: str, tag: str | None = None) -> list[dict[str, str]]:
    """Attributes of every element whose class list holds all of `cls` (space separated)."""
    parser = _Elements()
    parser.feed(text)
    want = set(cls.split())
    return [attrs for t, attrs in parser.found
            if (tag is None or t == tag) and want <= set(attrs.get("class", "").split())]


def events_shown(text: str) -> list[tuple[str, str, str]]:
    """(uid, calendar, data-start) of every `.cal-event`."""
    return [(a["data-uid"], a["data-calendar"], a.get("data-start", ""))
            for a in elements(text, "cal-event")]
