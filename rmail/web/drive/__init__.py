"""The drive over HTTP: the manual's JSON for curl-style clients, RFC 4918 WebDAV (class 1 and
2) for WebDAV clients, and public share links. `setup_drive(app)` mounts it."""

from __future__ import annotations

from aiohttp import web

from rmail.store.drive import DriveStore
from rmail.web.drive.context import DRIVE_KEY, DriveServices
from rmail.web.drive.routes import add_routes
from rmail.web.keys import CONFIG_KEY, CORE_KEY, DRIVES_KEY

__all__ = ["DRIVE_KEY", "DriveServices", "setup_drive"]


def setup_drive(app: web.Application) -> None:
    """Create the drive's stores (once per app) and register its routes."""
    config = app[CONFIG_KEY]
    core = app.get(CORE_KEY)
    if core is None:  # an app built without services (tests of other areas): build them here
        from rmail.services import build_services

        core = app[CORE_KEY] = build_services(config)
    drives = app[DRIVES_KEY] = DriveStore(config.mail_root)
    app[DRIVE_KEY] = DriveServices(config, core, drives, drives.shares)
    add_routes(app)
