"""An iCalendar invitation in a message (iMIP, RFC 6047): the event to show beside the
accept/decline/tentative buttons. The answer itself is the calendar area's route
(`POST /webmail/calendar/event/{calendar}/{uid}/respond`)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from icalendar import Calendar

from rmail.mail import render

__all__ = ["Invitation", "find_invitation"]

log = logging.getLogger("rmail.webmail")
MAX_ICS = 1024 * 1024


@dataclass(frozen=True)
class Invitation:
    method: str
    uid: str
    summary: str
    start: str
    end: str
    location: str
    organizer: str

    @property
    def asks_for_answer(self) -> bool:
        return self.method == "REQUEST"


def _when(value: Any, tz: dt.tzinfo) -> str:
    v = getattr(value, "dt", None)
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            return v.strftime("%a, %d %b %Y %H:%M")
        return v.astimezone(tz).strftime("%a, %d %b %Y %H:%M %Z")
    if isinstance(v, dt.date):
        return v.strftime("%a, %d %b %Y")
    return ""


def find_invitation(raw: bytes, body: dict[str, Any], tz: dt.tzinfo) -> Invitation | None:
    """The first VEVENT of the first text/calendar part, or None."""
    for part in render.walk(body):
        if part.get("type") != "text" or part.get("subtype") != "calendar" or "parts" in part:
            continue
        data = render.part_bytes(raw, part)[:MAX_ICS]
        try:
            cal = Calendar.from_ical(data.decode("utf-8", "replace"))
        except Exception as exc:  # a broken invitation is shown as an attachment only
            log.info("unreadable calendar part: %s", exc)
            return None
        method = str(cal.get("METHOD") or "").upper()
        for event in cal.walk("VEVENT"):
            organizer = str(event.get("ORGANIZER") or "")
            return Invitation(method, str(event.get("UID") or ""),
                              str(event.get("SUMMARY") or "(no title)"),
                              _when(event.get("DTSTART"), tz), _when(event.get("DTEND"), tz),
                              str(event.get("LOCATION") or ""),
                              organizer.removeprefix("mailto:").removeprefix("MAILTO:"))
        return None
    return None
