"""Shared by the calendar pages: the user's calendar home, who they are for iTIP, event URLs
and the values every calendar page draws (calendar list, colours)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any
from urllib.parse import quote

from rmail.ical.occurrences import Occurrence
from rmail.scheduling.events import Actor
from rmail.store.calendars import CalendarHome
from rmail.web.errors import HttpError
from rmail.web.webmail.calendar import data
from rmail.web.webmail.context import Page

__all__ = ["actor", "event_path", "home", "today", "uid_from_path"]

MAX_UID = 1000


def home(page: Page) -> CalendarHome:
    user = page.user
    return page.services.calendars.home(user.domain, user.username)


def actor(page: Page) -> Actor:
    return Actor.of(page.user.account)


def today(page: Page) -> dt.date:
    return dt.datetime.now(page.tz).date()


def _segment(value: str) -> str:
    return quote(value, safe="@:+-._~!$&'()*,;=")


def event_path(calendar: str, uid: str, action: str = "") -> str:
    """`/webmail/calendar/event/{calendar}/{uid}[/{action}]`; a `/` inside a UID is encoded
    (the route takes the UID's raw segment)."""
    path = f"/webmail/calendar/event/{_segment(calendar)}/{_segment(uid)}"
    return f"{path}/{action}" if action else path


def occurrence_url(page: Page, occ: Occurrence, action: str = "") -> str:
    return page.url(event_path(occ.calendar, occ.uid, action), rid=occ.rid or None)


def uid_from_path(page: Page) -> tuple[str, str]:
    """(calendar, UID) of an event route, validated (the store's name gate does the rest)."""
    calendar = page.request.match_info.get("calendar", "")
    uid = page.request.match_info.get("uid", "")
    if not calendar or not uid or len(uid) > MAX_UID or "\x00" in uid:
        raise HttpError(404, "No such event")
    return calendar, uid


async def calendar_list(page: Page) -> list[data.CalendarInfo]:
    return await page.run(data.calendars, home(page), page.preferences())


def chrome(page: Page, infos: list[data.CalendarInfo]) -> dict[str, Any]:
    """What every calendar page's frame needs (the calendar list beside the views, the
    colour stylesheet's version, URL helpers)."""
    colors = "|".join(f"{c.name}={c.color}" for c in infos)
    return {"calendars": infos, "area": "calendar", "today": today(page),
            "event_url": lambda o, a="": occurrence_url(page, o, a), "event_path": event_path,
            "colors_version": hashlib.sha256(colors.encode()).hexdigest()[:12]}
