"""REPORT: dispatch on the body's root element to one report module (a table, not reflection).
Every report is computed in a worker thread: it reads indexes and parses objects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from rmail.web.caldav import xml
from rmail.web.caldav.context import DavContext
from rmail.web.caldav.errors import DavError
from rmail.web.caldav.reports import addressbook, common, freebusy, multiget, query, sync
from rmail.web.caldav.xml import c, cr, d

ReportHandler = Callable[[DavContext, "xml.ET.Element"], Awaitable[web.StreamResponse]]


def _multistatus(body: bytes) -> web.Response:
    return web.Response(status=207, body=body, content_type="application/xml", charset="utf-8")


async def calendar_multiget(ctx: DavContext, root: xml.ET.Element) -> web.StreamResponse:
    req, hrefs = common.parse_requested(root), multiget.parse_hrefs(root)
    return _multistatus(await ctx.run(lambda: xml.serialize(multiget.build(ctx, hrefs, req))))


async def calendar_query(ctx: DavContext, root: xml.ET.Element) -> web.StreamResponse:
    target = common.collection_target(ctx)
    req, flt = common.parse_requested(root), query.parse_filter(root)
    return _multistatus(await ctx.run(lambda: xml.serialize(query.build(ctx, target, flt, req))))


async def sync_collection(ctx: DavContext, root: xml.ET.Element) -> web.StreamResponse:
    target = common.collection_target(ctx)
    req, token, limit = common.parse_requested(root), sync.parse_token(root), \
        sync.parse_limit(root)
    return _multistatus(await ctx.run(lambda: xml.serialize(sync.build(ctx, target, token, req,
                                                                   limit))))


async def free_busy_query(ctx: DavContext, root: xml.ET.Element) -> web.StreamResponse:
    target = common.collection_target(ctx)
    tr = freebusy.parse_range(root)
    body = await ctx.run(freebusy.build, ctx, target, tr)
    return web.Response(status=200, body=body, content_type="text/calendar", charset="utf-8")


async def addressbook_query(ctx: DavContext, root: xml.ET.Element) -> web.StreamResponse:
    target = common.collection_target(ctx)
    req, q = common.parse_requested(root), addressbook.parse_query(root)
    return _multistatus(await ctx.run(
        lambda: xml.serialize(addressbook.build(ctx, target, q, req))))


REPORTS: dict[str, ReportHandler] = {
    c("calendar-multiget"): calendar_multiget,
    c("calendar-query"): calendar_query,
    c("free-busy-query"): free_busy_query,
    d("sync-collection"): sync_collection,
    cr("addressbook-multiget"): calendar_multiget,
    cr("addressbook-query"): addressbook_query,
}


async def handle(ctx: DavContext) -> web.StreamResponse:
    root = xml.parse(await ctx.body(xml.MAX_XML_BYTES))
    handler = REPORTS.get(root.tag)
    if handler is None:
        raise DavError(403, f"unsupported report {root.tag}", xml.elem(d("supported-report")))
    return await handler(ctx, root)
