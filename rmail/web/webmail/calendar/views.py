"""`GET /webmail/calendar[/{view}]?date=YYYY-MM-DD`: the month, week, day and agenda views,
the calendar list's visibility toggle (`POST /webmail/calendar/visibility`) and the per-user
colour stylesheet (`GET /webmail/calendar/colors.css`; the pages' CSP allows no inline style).

Markup (the manual's selectors): `.cal-grid.month|week|day`, `.agenda-list`, one
`.cal-event[data-uid][data-calendar]` per shown occurrence, `a.cal-prev` / `a.cal-next` /
`a.cal-today`, `.cal-row[data-calendar][data-visible]`. Week and day views are hour rows with a
`.cal-now-line` in the current hour of today's column.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from aiohttp import web

from rmail.ical.occurrences import Occurrence, by_day
from rmail.web.errors import HttpError
from rmail.web.webmail.calendar import data
from rmail.web.webmail.calendar.common import calendar_list, chrome, home
from rmail.web.webmail.calendar.periods import VIEWS, Period, parse_date, period
from rmail.web.webmail.context import Page, view

routes = web.RouteTableDef()
TEMPLATES = {"month": "calendar/month.html", "week": "calendar/week.html",
             "day": "calendar/week.html", "agenda": "calendar/agenda.html"}


@routes.get("/webmail/calendar")
@view()
async def default_view(page: Page) -> web.StreamResponse:
    return await show(page, "month")


@routes.get("/webmail/calendar/{view:month|week|day|agenda}")
@view()
async def named_view(page: Page) -> web.StreamResponse:
    return await show(page, page.request.match_info["view"])


def hour_slots(occs: list[Occurrence], day: dt.date) -> tuple[list[Occurrence],
                                                               list[list[Occurrence]]]:
    """(all-day row, 24 hour rows) of one day: a timed occurrence sits in the hour it starts
    that day (hour 0 when it began the day before); all-day ones above the hours."""
    all_day: list[Occurrence] = []
    hours: list[list[Occurrence]] = [[] for _ in range(24)]
    for occ in occs:
        if occ.all_day:
            all_day.append(occ)
        elif occ.first_day < day:
            hours[0].append(occ)
        else:
            hours[occ.start.hour].append(occ)
    return all_day, hours


async def show(page: Page, name: str) -> web.StreamResponse:
    assert name in VIEWS
    prefs = page.preferences()
    now = dt.datetime.now(page.tz)
    try:
        day = parse_date(page.request.query.get("date"), now.date())
    except ValueError:
        raise HttpError(400, "date must be a day like 2026-12-06 (between 1900 and 2200)") \
            from None
    per: Period = period(name, day, data.week_start(prefs))
    infos = await calendar_list(page)
    names = [c.name for c in infos if c.visible and c.events]
    occs = await page.run(data.load_occurrences, home(page), names, per.first, per.last,
                          page.tz)
    days = by_day(occs, per.first, per.last)
    context: dict[str, Any] = dict(chrome(page, infos), period=per, days=days, view=name,
                                   occurrences=occs, now=now)
    if name in ("week", "day"):
        context["slots"] = {d: hour_slots(days[d], d) for d in per.days}
        context["now_quarter"] = now.minute // 15
    return await page.render(TEMPLATES[name], title=f"Calendar · {per.title}", **context)


_RETURN = re.compile(r"^/webmail/calendar(/[a-z]+)?(\?[A-Za-z0-9=&%._-]*)?$")


def return_path(value: str) -> str:
    """Where a calendar form goes back to: only calendar pages (never an open redirect)."""
    return value if value and len(value) < 300 and _RETURN.match(value) else "/webmail/calendar"


@routes.post("/webmail/calendar/visibility")
@view()
async def visibility(page: Page) -> web.StreamResponse:
    """Flip one calendar's visibility (`calendar=name`), kept as
    preferences.json `calendar_visible.{name}`; `visible=0|1` sets it instead of flipping."""
    name = str(page.form.get("calendar", ""))
    known = {c.name for c in await calendar_list(page)}
    if name not in known:
        raise HttpError(404, "No such calendar")
    explicit = str(page.form.get("visible", "")).strip()
    user = page.user

    def change(doc: dict[str, Any]) -> None:
        shown = data.visible_map(doc)
        current = shown.get(name, True)
        shown[name] = (explicit == "1") if explicit in ("0", "1") else not current
        doc[data.VISIBLE_KEY] = {k: v for k, v in shown.items() if k in known}

    await page.run(page.services.preferences.update, user.domain, user.username, change)
    raise page.redirect(return_path(str(page.form.get("return", ""))))


def _css_string(value: str) -> str:
    """A CSS string literal body: every character outside [A-Za-z0-9_-] escaped."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else f"\\{ord(ch):x} "
                   for ch in value)


@routes.get("/webmail/calendar/colors.css")
@view()
async def colors(page: Page) -> web.StreamResponse:
    infos = await calendar_list(page)
    rules = [f'[data-calendar="{_css_string(c.name)}"] {{ --cal-color: {c.color}; }}'
             for c in infos]
    return web.Response(text="\n".join(rules) + "\n", content_type="text/css",
                        charset="utf-8")
