"""PROPFIND (RFC 4918 §9.1): Depth 0, 1 and infinity; allprop, propname and named properties,
unknown ones in a 404 propstat."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from aiohttp import web

from rmail.store.errors import NotFound
from rmail.web.caldav import xml
from rmail.web.caldav.context import (
    BOOK,
    BOOK_HOME,
    CAL_HOME,
    CALENDAR,
    CARD,
    EVENT,
    PRINCIPAL,
    ROOT,
    DavContext,
    Target,
)
from rmail.web.caldav.errors import DavError
from rmail.web.caldav.props import Resource, prop_names, propstats_for
from rmail.web.caldav.xml import d


@dataclass(frozen=True)
class PropfindRequest:
    mode: str                    # "allprop", "propname" or "prop"
    names: list[str] | None      # for "prop" (and allprop's <include>)


def parse_propfind(body: bytes) -> PropfindRequest:
    """Pure: the request body as a typed request (empty body = allprop)."""
    if not body.strip():
        return PropfindRequest("allprop", None)
    root = xml.parse(body)
    if root.tag != d("propfind"):
        raise DavError(400, "expected a DAV:propfind body")
    if root.find(d("propname")) is not None:
        return PropfindRequest("propname", None)
    prop = root.find(d("prop"))
    if prop is not None:
        return PropfindRequest("prop", [child.tag for child in prop if isinstance(child.tag, str)])
    include = root.find(d("include"))
    names = [child.tag for child in include] if include is not None else None
    return PropfindRequest("allprop", names)


def collect(ctx: DavContext, target: Target, depth: str) -> list[Resource]:
    """The resources a PROPFIND covers (blocking: reads indexes)."""
    out: list[Resource] = []

    def add(t: Target, level: int) -> None:
        res = describe(ctx, t)
        out.append(res)
        if level == 0:
            return
        if t.kind in (CALENDAR, BOOK) and res.index is not None:
            out.extend(member_resource(ctx, res, name) for name in res.index.objects)
            return
        for child in children(ctx, t, res):
            add(child, level - 1)

    add(target, {"0": 0, "1": 1}.get(depth, 16))
    return out


def describe(ctx: DavContext, t: Target) -> Resource:
    href = ctx.href_for(t)
    if t.kind in (CALENDAR, BOOK):
        coll = ctx.collection(t)
        return Resource(t, href, coll.meta(), coll.index())
    if t.kind in (EVENT, CARD):
        coll = ctx.collection(t)
        assert t.name is not None
        return Resource(t, href, None, None, coll.entry(t.name))
    return Resource(t, href)


def children(ctx: DavContext, t: Target, res: Resource) -> list[Target]:
    if t.kind == ROOT:
        return [Target(PRINCIPAL)]
    if t.kind == PRINCIPAL:
        return [Target(CAL_HOME), Target(BOOK_HOME)]
    if t.kind == CAL_HOME:
        return [Target(CALENDAR, n) for n in ctx.calendars.names()]
    if t.kind == BOOK_HOME:
        return [Target(BOOK, n) for n in ctx.contacts.names()]
    if t.kind in (CALENDAR, BOOK) and res.index is not None:
        kind = EVENT if t.kind == CALENDAR else CARD
        return [Target(kind, t.collection, n) for n in res.index.objects]
    return []


def member_resource(ctx: DavContext, parent: Resource, name: str) -> Resource:
    """A member of an already described collection, without re-reading its index."""
    kind = EVENT if parent.target.kind == CALENDAR else CARD
    t = Target(kind, parent.target.collection, name)
    entry = parent.index.objects.get(name) if parent.index is not None else None
    return Resource(t, ctx.href_for(t), None, None, entry)


def build_multistatus(ctx: DavContext, resources: list[Resource],
                      req: PropfindRequest) -> ET.Element:
    """Pure: the 207 body for the resources."""
    responses = []
    for res in resources:
        if req.mode == "propname":
            empty = [ET.Element(name) for name in prop_names(res)]
            responses.append(xml.response(res.href, [xml.propstat(empty, 200)]))
            continue
        names = req.names if req.mode == "prop" else None
        stats = propstats_for(ctx, res, names)
        if req.mode == "allprop" and req.names:
            extra = [n for n in req.names if n not in {e.tag for s in stats for e in s[0]}]
            if extra:
                stats += propstats_for(ctx, res, extra)
        responses.append(xml.response(res.href, stats))
    return xml.multistatus(responses)


async def handle(ctx: DavContext) -> web.StreamResponse:
    req = parse_propfind(await ctx.body())
    depth = ctx.depth("infinity")  # RFC 4918 §9.1: no Depth header means infinity

    def work() -> bytes:
        try:
            resources = collect(ctx, ctx.target, depth)
        except NotFound as exc:
            raise DavError(404, str(exc) or "not found") from None
        return xml.serialize(build_multistatus(ctx, resources, req))

    body = await ctx.run(work)
    return web.Response(status=207, body=body, content_type="application/xml", charset="utf-8")
