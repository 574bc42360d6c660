"""PROPPATCH (RFC 4918 §9.2): set and remove dead properties, all or nothing. Live properties
are protected (403, and 424 for the rest of the request). Owner only."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from aiohttp import web

from rmail.web.drive import davxml as X
from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError
from rmail.web.drive.locking import check_if
from rmail.web.drive.propfind import read_xml_body
from rmail.web.drive.props import PROTECTED

__all__ = ["handle", "plan"]

MAX_PROPS = 1000
MAX_PROP_BYTES = 64 * 1024


def plan(ops: list[tuple[str, str, str | None]]) -> tuple[dict[str, str], list[str],
                                                          dict[str, int]]:
    """(to set, to remove, failures by name) for a list of operations in document order; any
    failure means nothing is applied (424 for the others)."""
    to_set: dict[str, str] = {}
    to_remove: list[str] = []
    failed: dict[str, int] = {}
    for op, name, value in ops:
        if name in PROTECTED:
            failed[name] = 403
        elif op == "set":
            assert value is not None
            if len(value.encode()) > MAX_PROP_BYTES:
                failed[name] = 403
                continue
            to_set[name] = value
            if name in to_remove:
                to_remove.remove(name)
        else:
            to_set.pop(name, None)
            to_remove.append(name)
    return to_set, to_remove, failed


async def handle(ctx: Ctx) -> web.StreamResponse:
    if ctx.share is not None:
        raise DriveError(403, "PROPPATCH is not allowed on shared resources")
    body = await read_xml_body(ctx)
    try:
        ops = X.parse_proppatch(body)
    except X.XmlError as exc:
        raise DriveError(400, str(exc)) from None
    tokens = await check_if(ctx)
    entry = await ctx.run(ctx.drive.stat, ctx.path)
    to_set, to_remove, failed = plan(ops)
    if len(entry.props) + len(to_set) > MAX_PROPS:
        failed.update({n: 507 for n in to_set})
    names = list(dict.fromkeys(name for _, name, _ in ops))
    by_status: dict[int, list[ET.Element]] = {}
    if failed:
        for name in names:
            by_status.setdefault(failed.get(name, 424), []).append(ET.Element(name))
    else:
        await ctx.run(ctx.drive.set_props, ctx.path, to_set, to_remove,
                                rules=ctx.rules(tokens))
        by_status[200] = [ET.Element(n) for n in names]
    xml = X.multistatus([X.propstat_response(ctx.href(entry.path, entry.is_dir), by_status)])
    return web.Response(status=207, body=xml, content_type="application/xml", charset="utf-8")
