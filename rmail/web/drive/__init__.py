"""The drive over HTTP: the manual's JSON for curl-style clients, RFC 4918 WebDAV (class 1 and
2) for WebDAV clients, and public share links. `setup_drive(app)` mounts it."""

from __future__ import annotations

from aiohttp import web

from rmail.web.drive.context import DRIVE_KEY, DriveServices
from rmail.web.drive.routes import add_routes
from rmail.web.keys import CONFIG_KEY, CORE_KEY, DRIVES_KEY

__all__ = ["DRIVE_KEY", "DriveServices", "setup_drive"]


def setup_drive(app: web.Application) -> None:
    """Register the drive's routes over the process's stores (`Services.drives`; the
    webmail's drive pages reach the same object as `DRIVES_KEY`)."""
    core = app[CORE_KEY]
    drives = app[DRIVES_KEY] = core.drives
    app[DRIVE_KEY] = DriveServices(app[CONFIG_KEY], core, drives, drives.shares)
    add_routes(app)
