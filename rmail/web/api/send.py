"""`POST /messages/send`: compose a message and hand it to the delivery pipeline."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
