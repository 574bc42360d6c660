"""Which days a calendar view shows and where its prev/next/today links go. Pure.

month: the whole weeks around the month (weeks start on the user's `week_start`, Monday by
default); week: 7 days from the week's start; day: one day; agenda: 30 days from the date.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from dataclasses import dataclass

from rmail.ical.occurrences import month_weeks, week_start_of

VIEWS = ("month", "week", "day", "agenda")
AGENDA_DAYS = 30
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2200, 12, 31)


@dataclass(frozen=True)
class Period:
    view: str
    date: dt.date               # the date asked for
    first: dt.date              # first day shown
    last: dt.date               # last day shown (inclusive)
    prev: dt.date
    next: dt.date
    title: str
    weeks: tuple[tuple[dt.date, ...], ...] = ()   # month view rows

    @property
    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i)
                for i in range((self.last - self.first).days + 1)]


def parse_date(text: str | None, today: dt.date) -> dt.date:
    """`?date=YYYY-MM-DD`, today when absent; ValueError when malformed or out of range."""
    if not text:
        return today
    value = dt.date.fromisoformat(text.strip()[:10])
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValueError("date out of range")
    return value


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return dt.date(year, month, min(day.day, _calendar.monthrange(year, month)[1]))


def period(view: str, day: dt.date, week_start: int = 0) -> Period:
    if view == "month":
        weeks = tuple(tuple(w) for w in month_weeks(day.year, day.month, week_start))
        return Period(view, day, weeks[0][0], weeks[-1][-1], _add_months(day, -1).replace(day=1),
                      _add_months(day, 1).replace(day=1), day.strftime("%B %Y"), weeks)
    if view == "week":
        first = week_start_of(day, week_start)
        last = first + dt.timedelta(days=6)
        if first.month == last.month:
            title = f"{first.day}–{last.day} {last.strftime('%B %Y')}"
        else:
            title = f"{first.strftime('%-d %b')} – {last.strftime('%-d %b %Y')}"
        return Period(view, day, first, last, first - dt.timedelta(days=7),
                      first + dt.timedelta(days=7), title)
    if view == "day":
        return Period(view, day, day, day, day - dt.timedelta(days=1),
                      day + dt.timedelta(days=1), day.strftime("%A %-d %B %Y"))
    if view == "agenda":
        last = day + dt.timedelta(days=AGENDA_DAYS - 1)
        return Period(view, day, day, last, day - dt.timedelta(days=AGENDA_DAYS),
                      day + dt.timedelta(days=AGENDA_DAYS),
                      f"{day.strftime('%-d %b %Y')} – {last.strftime('%-d %b %Y')}")
    raise ValueError(f"unknown view {view!r}")
