"""The application factory shared by the server and the tests.

Later areas (JSON API, CalDAV, drive, webmail, autoconfig) mount their route tables and
sub-applications here; handlers read state through the keys in `rmail.web.keys`.
"""

from __future__ import annotations

from aiohttp import web

from rmail import __version__
from rmail.config import Config
from rmail.web.api import setup_api
from rmail.web.autoconfig import routes as autoconfig_routes
from rmail.web.caldav import setup_caldav
from rmail.web.docs import routes as docs_routes
from rmail.web.drive import setup_drive
from rmail.web.keys import CONFIG_KEY, CORE_KEY, SERVICE_KEYS
from rmail.web.middlewares import add_cors_headers, front
from rmail.web.webmail import setup_webmail
from rmail.web.webmail.calendar import setup_calendar
from rmail.web.webmail.drive import setup_drive_pages

__all__ = ["create_app"]


def create_app(config: Config, **services: object) -> web.Application:
    """Build the HTTP application for ``config``; ``services`` are named in `SERVICE_KEYS`."""
    app = web.Application(middlewares=[front])
    app.on_response_prepare.append(add_cors_headers)
    app[CONFIG_KEY] = config
    for name, service in services.items():
        try:
            key = SERVICE_KEYS[name]
        except KeyError:
            raise TypeError(f"create_app: unknown service {name!r}") from None
        app[key] = service
    if CORE_KEY not in app:
        raise TypeError("create_app: no Services given (core=build_services(config))")
    app.router.add_get("/healthz", healthz)
    setup_caldav(app)
    setup_drive(app)
    setup_api(app)
    app.add_routes(autoconfig_routes)
    app.add_routes(docs_routes)
    setup_webmail(app)
    setup_drive_pages(app)
    setup_calendar(app)
    return app


async def healthz(request: web.Request) -> web.Response:
    """Liveness probe: answers as soon as the HTTP listener serves. ``workers`` is the number
    of worker processes; ``rss`` their resident memory in bytes by worker index (as each last
    reported it to the supervisor; this process's own figure is current); ``worker`` the index of
the worker that answered."""
    from rmail.bus import rss_bytes

    config = request.app[CONFIG_KEY]
    bus = request.app[CORE_KEY].bus
    rss = dict(getattr(bus, "rss", {}))
    index = getattr(bus, "index", None)
    rss[str(index or 1)] = rss_bytes()
    return web.json_response({"status": "ok", "version": __version__,
                              "workers": config.worker_count, "worker": index or 1,
                              "rss": rss})
