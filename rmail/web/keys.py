"""Typed application state: every value the app holds is reached through an `AppKey` here.

A service handed to `create_app(config, **services)` is stored under the key registered for
its name in `SERVICE_KEYS`; a later area adds its key below and one entry to that table.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rmail.config import Config
from rmail.services import Services
from rmail.store.drive import DriveStore

__all__ = ["CONFIG_KEY", "CORE_KEY", "DRIVES_KEY", "SERVICE_KEYS"]

CONFIG_KEY = web.AppKey("config", Config)
CORE_KEY = web.AppKey("core", Services)
# The drive store of this app (set by `setup_drive`; the webmail's file manager uses it too).
DRIVES_KEY = web.AppKey("drives", DriveStore)

# name accepted by create_app(**services) -> the key its value is stored under
SERVICE_KEYS: dict[str, web.AppKey[Any]] = {"core": CORE_KEY}
