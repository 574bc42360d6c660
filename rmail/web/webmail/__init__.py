"""The webmail: server-rendered pages under `/webmail/` (Jinja2 with autoescape, one small
stylesheet, a little optional JavaScript; every page works without it).

Routes follow TEAM.md's webmail contract and the reference manual; no deviation so far.
A user folder whose first level is a reserved word (login logout register compose settings
search calendar drive static message folder bulk events) is reached as
`/webmail/folder/{folder}`; every link the pages draw already does so (`urls.folder_path`).

How another area (calendar, drive) adds its pages
--------------------------------------------------
1. Templates go beside ours, in `rmail/web/webmail/templates/` (e.g. `calendar/month.html`),
   and start with ``{% extends "base.html" %}``, filling ``{% block content %}`` (inside
   `main.content`) and optionally ``{% block head %}`` (extra stylesheets: put files in
   `static/` and link ``page.url("/webmail/static/calendar.css")``). `base.html` draws the
   sidebar (`aside.sidebar`, folders, links to compose, calendar, drive, settings, logout) and
   `span.current-user`; set ``area="calendar"`` in the render call to highlight its link.
2. Handlers are ``async def handler(page: Page) -> web.StreamResponse`` wrapped in
   ``@view()`` from `rmail.web.webmail.context`, registered with the area's own
   `web.RouteTableDef` and added in `create_app` (order does not matter: the folder catch-all
   never matches a reserved first segment). `view()`:
   - requires the session (`rmail_session` cookie; else 303 to the login page and back);
     `page.user` is the `Principal`, `page.services` the `Services`, `page.tz` the user's
     time zone, `page.preferences()` their preferences.json
     (`services.preferences.update(domain, user, fn)` to change it);
   - checks CSRF on every POST before the handler runs: forms carry
     ``<input type="hidden" name="csrf" value="{{ page.csrf }}">`` (FIRST field of a
     multipart form; then read the rest with ``reader = await page.multipart()``); an
     urlencoded form is already read into `page.form`. A request with a raw body (the
     calendar import) uses ``@view(body="raw")`` and sends the token in `X-CSRF-Token`
     (script: read it from ``<meta name="csrf" content="...">`` in base.html). Missing or
     wrong: 403 and the handler never runs;
   - sets CSP, `X-Content-Type-Options: nosniff`, no framing, no-store;
   - turns `HttpError` and store errors into an HTML error page with the one status table.
3. URLs are absolute: ``page.url("/webmail/calendar/week", date="2026-12-06")`` (query
   arguments are encoded), in templates ``{{ page.url('/webmail/drive/') }}``;
   ``page.url.folder(name)`` and ``page.url.message(folder, uid)`` for mail.
4. Answers: ``return await page.render("calendar/month.html", title="December",
   area="calendar", **values)``; after a POST, ``raise page.redirect("/webmail/calendar")``
   (303). Store work runs off the loop: ``await page.run(fn, *args)``.
   Errors in a form: re-render it with ``<p class="form-error">...</p>`` and the user's input.
"""

from __future__ import annotations

from aiohttp import web

from rmail.web.errors import HttpError
from rmail.web.webmail import (
    compose,
    filters,
    login,
    mailbox,
    message,
    register,
    search,
    security,
    settings,
    static,
)
from rmail.web.webmail.context import Page, view
from rmail.web.webmail.urls import RESERVED

__all__ = ["RESERVED", "Page", "setup_webmail", "view"]


def setup_webmail(app: web.Application) -> None:
    """Mount the webmail's routes (the folder catch-all refuses reserved first segments, so
    areas registered before or after this call keep their routes)."""
    for area in (static, login, register, compose, search, settings, security, filters,
                 message, mailbox):
        app.add_routes(area.routes)
    mailbox.add_catch_all(app)
    own = "|".join(sorted(RESERVED - {"calendar", "drive"}))
    app.router.add_get("/webmail/{area:(?:" + own + ")}{tail:(?:/.*)?}", not_found)


@view(session=False)
async def not_found(page: Page) -> web.StreamResponse:
    """A page of ours that does not exist: an HTML 404 (not the JSON API's body), with the
    sidebar when logged in. Registered after every route of ours; never matches the
    calendar's or the drive's paths."""
    raise HttpError(404, "No such page")
