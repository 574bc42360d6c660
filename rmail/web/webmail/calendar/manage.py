"""Calendars themselves: create (`.action-new-calendar`), rename, recolour and delete (the
default calendar and the invitations inbox are not deletable). The same collections CalDAV
clients see: a rename or new colour bumps the calendar's ctag, so they pick it up.

```
GET  /webmail/calendar/calendars                  the list with its forms
POST /webmail/calendar/calendars                  displayname, color → a new calendar
POST /webmail/calendar/calendars/{name}           displayname and/or color
POST /webmail/calendar/calendars/{name}/delete
POST /webmail/calendar/preferences               week_start=monday|sunday|saturday
```
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Any

from aiohttp import web

from rmail.store.calendars import DEFAULT_CALENDAR, SCHEDULE_INBOX
from rmail.store.errors import AlreadyExists, NotFound
from rmail.web.errors import HttpError
from rmail.web.webmail.calendar import data
from rmail.web.webmail.calendar.common import calendar_list, chrome, home
from rmail.web.webmail.context import Page, view

routes = web.RouteTableDef()
PROTECTED = (DEFAULT_CALENDAR, SCHEDULE_INBOX)
MAX_DISPLAYNAME = 200
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def slug(displayname: str) -> str:
    """A collection name from a display name (`Team Meetings` → `team-meetings`)."""
    text = unicodedata.normalize("NFKD", displayname).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]
    return text or "calendar-" + secrets.token_hex(4)


def _color(value: str) -> str:
    value = value.strip()
    if not _HEX.match(value):
        raise HttpError(400, "a colour looks like #3a87ad")
    return value.lower() + "ff"


def _displayname(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise HttpError(400, "the calendar needs a name")
    if len(value) > MAX_DISPLAYNAME:
        raise HttpError(400, f"a calendar name has at most {MAX_DISPLAYNAME} characters")
    return value


async def _page(page: Page, *, error: str = "", status: int = 200) -> web.StreamResponse:
    infos = await calendar_list(page)
    week_start = data.week_start(page.preferences())
    return await page.render("calendar/calendars.html", title="Calendars", error=error,
                             status=status, protected=PROTECTED,
                             week_start=next(k for k, v in data.WEEKDAY_NAMES.items()
                                         if v == week_start), **chrome(page, infos))


@routes.get("/webmail/calendar/calendars")
@view()
async def listing(page: Page) -> web.StreamResponse:
    return await _page(page)


@routes.post("/webmail/calendar/calendars")
@view()
async def create(page: Page) -> web.StreamResponse:
    try:
        displayname = _displayname(str(page.form.get("displayname", "")))
        color = _color(str(page.form.get("color", "") or data.DEFAULT_COLOR))
    except HttpError as exc:
        return await _page(page, error=exc.message, status=400)
    base = slug(displayname)
    calendars = home(page)

    def make() -> str:
        for attempt in range(20):
            name = base if attempt == 0 else f"{base}-{attempt + 1}"
            try:
                calendars.create_calendar(name, displayname=displayname, color=color)
                return name
            except AlreadyExists:
                continue
        raise HttpError(409, "choose another name: too many calendars are called that")

    await page.run(make)
    raise page.redirect("/webmail/calendar/calendars")


@routes.post("/webmail/calendar/calendars/{name}")
@view()
async def update(page: Page) -> web.StreamResponse:
    name = page.request.match_info["name"]
    changes: dict[str, Any] = {}
    try:
        if "displayname" in page.form:
            changes["displayname"] = _displayname(str(page.form["displayname"]))
        if "color" in page.form:
            changes["color"] = _color(str(page.form["color"]))
    except HttpError as exc:
        return await _page(page, error=exc.message, status=400)
    if not changes:
        raise page.redirect("/webmail/calendar/calendars")

    def apply() -> None:
        home(page).get(name).update_meta(lambda meta: meta.update(changes))

    try:
        await page.run(apply)
    except NotFound:
        raise HttpError(404, "No such calendar") from None
    raise page.redirect("/webmail/calendar/calendars")


@routes.post("/webmail/calendar/calendars/{name}/delete")
@view()
async def delete(page: Page) -> web.StreamResponse:
    name = page.request.match_info["name"]
    if name in PROTECTED:
        return await _page(page, error="The default calendar and the invitations calendar "
                                       "cannot be deleted.", status=400)
    try:
        await page.run(home(page).delete, name)
    except NotFound:
        raise HttpError(404, "No such calendar") from None
    user = page.user

    def forget(doc: dict[str, Any]) -> None:
        shown = data.visible_map(doc)
        if name in shown:
            del shown[name]
            doc[data.VISIBLE_KEY] = shown

    await page.run(page.services.preferences.update, user.domain, user.username, forget)
    raise page.redirect("/webmail/calendar/calendars")


@routes.post("/webmail/calendar/preferences")
@view()
async def preferences(page: Page) -> web.StreamResponse:
    """The first day of the week (preferences.json `week_start`; Monday when unset)."""
    value = str(page.form.get("week_start", "")).strip().lower()
    if value not in data.WEEKDAY_NAMES:
        return await _page(page, error="choose the day weeks start on", status=400)
    user = page.user
    await page.run(page.services.preferences.update, user.domain, user.username,
                   lambda doc: doc.update(week_start=value))
    raise page.redirect("/webmail/calendar/calendars")
