"""PROPFIND: the manual's JSON (metadata, plus the children of a directory) for curl-style
requests; a 207 multistatus (RFC 4918 §9.1) for WebDAV requests, with live properties, dead
properties, lock discovery and RFC 4331 quota, at Depth 0, 1 or infinity."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from aiohttp import web

from rmail.store.drive import Entry
from rmail.web.drive import davxml as X
from rmail.web.drive.context import Ctx
from rmail.web.drive.dialect import wants_xml
from rmail.web.drive.errors import DriveError
from rmail.web.drive.props import ALLPROP, entry_props, lock_elements

__all__ = ["handle", "read_xml_body"]

MAX_ENTRIES = 100_000


async def read_xml_body(ctx: Ctx) -> bytes:
    req = ctx.request
    if req.content_length is not None and req.content_length > X.MAX_XML_BYTES:
        raise DriveError(413, "XML body too large")
    body = bytearray()
    while chunk := await req.content.readany():
        body += chunk
        if len(body) > X.MAX_XML_BYTES:
            raise DriveError(413, "XML body too large")
    return bytes(body)


async def handle(ctx: Ctx) -> web.StreamResponse:
    body = await read_xml_body(ctx)
    if not wants_xml(ctx.request, body):
        return await _json(ctx)
    try:
        request = X.parse_propfind(body)
    except X.XmlError as exc:
        raise DriveError(400, str(exc)) from None
    depth_header = ctx.request.headers.get("Depth", "infinity").strip().lower()
    depth = {"0": 0, "1": 1, "infinity": None}.get(depth_header, -1)
    if depth == -1:
        raise DriveError(400, "Depth must be 0, 1 or infinity")
    entries = await ctx.run(_collect, ctx, depth)
    locks = await ctx.run(ctx.drive.locks.active)
    quota_cache: list[tuple[int, int]] = []

    def quota() -> tuple[int, int]:
        if not quota_cache:
            q = ctx.quota()
            used = q.other_bytes + ctx.drive.usage_bytes()
            quota_cache.append((used, max(0, q.limit_bytes - used)))
        return quota_cache[0]

    def build() -> bytes:
        responses = []
        for entry in entries:
            href = ctx.href(entry.path, entry.is_dir)
            mine = [lk for lk in locks if lk.covers(entry.path)]
            lock_els = lock_elements(mine, lambda lk: ctx.href(lk.root, False))
            by_status: dict[int, list[ET.Element]] = {}
            if request.kind == "propname":
                names = [*ALLPROP, *entry.props]
                by_status[200] = [ET.Element(n) for n in names]
            else:
                if request.kind == "allprop":
                    names = [*ALLPROP, *[n for n in entry.props if n not in ALLPROP],
                             *[n for n in request.names if n not in ALLPROP]]
                else:
                    names = list(request.names)
                found, missing = entry_props(entry, names, locks=lock_els,
                                             quota=quota if ctx.share is None else None)
                if found:
                    by_status[200] = found
                if missing and request.kind == "prop":
                    by_status[404] = missing
            responses.append(X.propstat_response(href, by_status))
        return X.multistatus(responses)

    xml = await ctx.run(build)
    return web.Response(status=207, body=xml, content_type="application/xml", charset="utf-8")


def _collect(ctx: Ctx, depth: int | None) -> list[Entry]:
    out = []
    for entry in ctx.drive.walk(ctx.path, depth):
        out.append(entry)
        if len(out) > MAX_ENTRIES:
            raise DriveError(403, "too many resources for one PROPFIND; use a smaller Depth")
    return out


async def _json(ctx: Ctx) -> web.StreamResponse:
    entry = await ctx.run(ctx.drive.stat, ctx.path)
    if entry.is_dir:
        info = await ctx.run(ctx.drive.listdir, ctx.path)
        body = info.public()
    else:
        body = entry.public()
    if ctx.share is not None:
        cut = ctx.root.depth

        def rel(path: str) -> str:
            return "/".join(path.split("/")[cut:]) if path else path

        body["path"] = rel(body["path"])
        if "children" in body:
            body["children"] = [dict(c, path=rel(c["path"])) for c in body["children"]]
    return web.json_response(body)
