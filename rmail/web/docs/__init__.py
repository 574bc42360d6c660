"""Reference documentation served at `/docs/{page}`, and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
