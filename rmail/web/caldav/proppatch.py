"""PROPPATCH (RFC 4918 §9.2): set and remove collection properties, all or nothing, with a
status per property (200, 403 for protected ones, 424 for the rest when one fails)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from rmail.web.caldav import xml
from rmail.web.caldav.context import BOOK, CALENDAR, DavContext
from rmail.web.caldav.errors import DavError
from rmail.web.caldav.props import PROPS, WRITABLE
from rmail.web.caldav.xml import d

MAX_DEAD_PROP_BYTES = 16 * 1024


@dataclass(frozen=True)
class PropChange:
    name: str                   # Clark name
    value: ET.Element | None    # None: remove


def parse_proppatch(body: bytes) -> list[PropChange]:
    """Pure: the ordered list of set/remove instructions."""
    root = xml.parse(body)
    if root.tag != d("propertyupdate"):
        raise DavError(400, "expected a DAV:propertyupdate body")
    changes: list[PropChange] = []
    for op in root:
        if op.tag not in (d("set"), d("remove")):
            continue
        for prop in op.findall(d("prop")):
            for item in prop:
                changes.append(PropChange(item.tag, item if op.tag == d("set") else None))
    return changes


def property_value(name: str, node: ET.Element) -> str:
    """The text a writable live property stores."""
    return xml.text_of(node)


def plan(kind: str, changes: list[PropChange]) -> dict[str, int]:
    """Pure: the status each property would get (all 200, or the failures and 424s)."""
    live = PROPS.get(kind, {})
    status: dict[str, int] = {}
    for change in changes:
        if change.name in WRITABLE:
            status[change.name] = 200
        elif change.name in live:
            status[change.name] = 403  # protected live property (resourcetype, getctag ...)
        elif change.value is not None and \
                len(ET.tostring(change.value)) > MAX_DEAD_PROP_BYTES:
            status[change.name] = 507
        else:
            status[change.name] = 200  # dead property
    if any(code != 200 for code in status.values()):
        status = {n: (code if code != 200 else 424) for n, code in status.items()}
    return status


def apply(meta: dict[str, Any], changes: list[PropChange]) -> None:
    """Apply changes to a collection metadata document (in place)."""
    dead = dict(meta.get("props") or {})
    for change in changes:
        key = WRITABLE.get(change.name)
        if key is not None:
            meta[key] = property_value(change.name, change.value) \
                if change.value is not None else ("" if key != "order" else None)
        elif change.value is None:
            dead.pop(change.name, None)
        else:
            dead[change.name] = ET.tostring(change.value, encoding="unicode")
    meta["props"] = dead


def build_response(href: str, status: dict[str, int]) -> ET.Element:
    by_code: dict[int, list[ET.Element]] = {}
    for name, code in status.items():
        by_code.setdefault(code, []).append(ET.Element(name))
    return xml.multistatus([xml.response(href, [xml.propstat(props, code)
                                                for code, props in by_code.items()])])


async def handle(ctx: DavContext) -> web.StreamResponse:
    changes = parse_proppatch(await ctx.body())
    kind = ctx.target.kind
    if kind not in (CALENDAR, BOOK):
        # Principals and homes have no writable properties: every change is refused.
        status = {ch.name: 403 for ch in changes}
    else:
        status = plan(kind, changes)
        if all(code == 200 for code in status.values()) and changes:
            coll = ctx.collection()
            await ctx.run(coll.update_meta, lambda meta: apply(meta, changes))
    body = xml.serialize(build_response(ctx.href_for(ctx.target), status))
    return web.Response(status=207, body=body, content_type="application/xml", charset="utf-8")
