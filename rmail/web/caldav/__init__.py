"""CalDAV (RFC 4791), CardDAV (RFC 6352), WebDAV sync (RFC 6578) and discovery (RFC 6764).

One module per method (STYLE.md #4), each with pure parsing/building apart from its handler;
`METHODS` is the command table; `dispatch` authenticates, resolves the path (only the caller's
own collections), and maps every failure to a DAV response in one place
(`rmail.web.caldav.errors`). Storage is `rmail.store.calendars` / `rmail.store.contacts`.

`setup_caldav(app)` mounts `/caldav/...`, `/.well-known/caldav` and `/.well-known/carddav` over
the process's stores (`Services.calendars`, `.contacts`). The VALARM reminder task is a
singleton of the server (`Services.start`), not of this area.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from rmail.web.caldav import (
    copy,
    delete,
    get,
    mkcalendar,
    mkcol,
    move,
    options,
    propfind,
    proppatch,
    put,
    report,
)
from rmail.web.caldav.context import (
    DAV_KEY,
    PREFIX,
    ROOT,
    DavContext,
    DavStores,
    authenticate,
    parse_path,
)
from rmail.web.caldav.errors import DavError, dav_response_for
from rmail.web.keys import CORE_KEY

__all__ = ["METHODS", "setup_caldav"]

Handler = Callable[[DavContext], Awaitable[web.StreamResponse]]

METHODS: dict[str, Handler] = {
    "OPTIONS": options.handle,
    "PROPFIND": propfind.handle,
    "PROPPATCH": proppatch.handle,
    "MKCALENDAR": mkcalendar.handle,
    "MKCOL": mkcol.handle,
    "GET": get.handle,
    "HEAD": get.handle,
    "PUT": put.handle,
    "DELETE": delete.handle,
    "MOVE": move.handle,
    "COPY": copy.handle,
    "REPORT": report.handle,
}


async def dispatch(request: web.Request) -> web.StreamResponse:
    handler = METHODS.get(request.method)
    if handler is None:
        return web.Response(status=405, headers={"Allow": options.ALLOW})
    if request.method == "OPTIONS":  # no auth: clients probe capabilities first
        return web.Response(status=200, headers=options.headers())
    ctx: DavContext | None = None
    try:
        principal = await authenticate(request)
        target = parse_path(request.path, principal)
        ctx = DavContext(request, principal, target)
        await ctx.ensure_defaults()
        if target.kind == ROOT and request.method not in ("PROPFIND", "OPTIONS"):
            raise DavError(405, "only PROPFIND on the root", headers={"Allow": options.ALLOW})
        response = await handler(ctx)
    except Exception as exc:  # one place maps every failure to a DAV answer
        href_of = None
        calendar = True
        if ctx is not None:
            context = ctx
            calendar = context.target.is_calendar_side

            def href_of(name: str) -> str:
                t = context.target
                return context.event_href(t.collection or "", name) if calendar else \
                    context.card_href(t.collection or "", name)

        response = dav_response_for(exc, calendar=calendar, href_of=href_of)
    response.headers.setdefault("DAV", options.DAV_HEADER)
    return response


async def well_known(request: web.Request) -> web.StreamResponse:
    """RFC 6764 §5: 301 to the context path; with valid credentials, straight to the caller's
    principal, so a client configured with only an e-mail address finds everything."""
    location = f"{PREFIX}/"
    if request.headers.get("Authorization"):
        try:
            principal = await authenticate(request)
            location = f"{PREFIX}/{principal.username}/"
        except Exception:
            location = f"{PREFIX}/"
    raise web.HTTPMovedPermanently(location)


def setup_caldav(app: web.Application) -> None:
    core = app[CORE_KEY]
    app[DAV_KEY] = DavStores(core.calendars, core.contacts)
    for path in ("/.well-known/caldav", "/.well-known/carddav"):
        app.router.add_route("*", path, well_known)
    app.router.add_route("*", PREFIX, dispatch)
    app.router.add_route("*", PREFIX + "/{tail:.*}", dispatch)
