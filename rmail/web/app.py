"""The application factory shared by the server and the tests.

Later areas (JSON API, CalDAV, drive, webmail, autoconfig) mount their route tables and
sub-applications here; handlers read state through the keys in `rmail.web.keys`.
"""

from __future__ import annotations

from aiohttp import web

from rmail import __version__
from rmail.config import Config
from rmail.web.keys import CONFIG_KEY, SERVICE_KEYS

__all__ = ["create_app"]


def create_app(config: Config, **services: object) -> web.Application:
    """Build the HTTP application for ``config``; ``services`` are named in `SERVICE_KEYS`."""
    app = web.Application()
    app[CONFIG_KEY] = config
    for name, service in services.items():
        try:
            key = SERVICE_KEYS[name]
        except KeyError:
            raise TypeError(f"create_app: unknown service {name!r}") from None
        app[key] = service
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(request: web.Request) -> web.Response:
    """Liveness probe: answers as soon as the HTTP listener serves."""
    return web.json_response({"status": "ok", "version": __version__})
