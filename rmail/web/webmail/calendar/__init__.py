"""The webmail calendar (reference manual, "Webmail Calendar UI"): month, week, day and agenda
views, events, invitations, calendars, import and export, on the same calendar store CalDAV
clients use (`rmail.store.calendars`), so an event made here appears in Thunderbird or DAVx5 at
their next sync and the other way round.

Modules: `views` (the four views, visibility, colours), `event` (detail, form, delete,
RSVP), `manage` (calendars), `transfer` (import, export); `data` reads the store for the pages,
`periods` says which days a view shows, `common` is shared. The calendar logic itself is pure
and lives in `rmail.ical` (occurrences, event form, import) and `rmail.scheduling.events`
(store + iMIP).
"""

from __future__ import annotations

from aiohttp import web

from rmail.web.webmail.calendar import event, manage, transfer, views

__all__ = ["setup_calendar"]


def setup_calendar(app: web.Application) -> None:
    """Mount `/webmail/calendar...` (explicit routes before the views' `{view}` pattern)."""
    app.add_routes(manage.routes)
    app.add_routes(transfer.routes)
    app.add_routes(event.routes)
    app.add_routes(views.routes)
