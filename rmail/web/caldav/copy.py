"""COPY (RFC 4918 §9.8) of a calendar object or vCard to another name or collection of the same
user. A copy into the collection that holds the original always duplicates its UID, so it is
refused with `no-uid-conflict` (RFC 4791 §5.3.2.1); into another calendar it is a new resource
(201) or replaces the destination (204, unless `Overwrite: F` → 412)."""

from __future__ import annotations

from aiohttp import web

from rmail.web.caldav.context import DavContext
from rmail.web.caldav.move import transfer


async def handle(ctx: DavContext) -> web.StreamResponse:
    return await transfer(ctx, keep=True)
