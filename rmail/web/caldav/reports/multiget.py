"""calendar-multiget (RFC 4791 §7.9) and addressbook-multiget (RFC 6352 §8.7): the named
resources in one round trip, 404 for the ones that don't exist."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rmail.store.errors import NotFound
from rmail.web.caldav import xml
from rmail.web.caldav.context import CARD, EVENT, DavContext
from rmail.web.caldav.errors import DavError
from rmail.web.caldav.reports.common import RequestedProps, not_found, object_response
from rmail.web.caldav.xml import d


def parse_hrefs(root: ET.Element) -> list[str]:
    return [xml.text_of(h) for h in root.findall(d("href")) if xml.text_of(h)]


def build(ctx: DavContext, hrefs: list[str], req: RequestedProps) -> ET.Element:
    """Blocking: reads the named objects."""
    responses = []
    for href in hrefs:
        try:
            target = ctx.resolve_href(href)
        except DavError:
            responses.append(not_found(href))
            continue
        if target.kind not in (EVENT, CARD) or target.name is None:
            responses.append(not_found(href))
            continue
        try:
            coll = ctx.collection(target)
            entry = coll.entry(target.name)
            data = coll.read(target.name)
        except NotFound:
            responses.append(not_found(href))
            continue
        responses.append(object_response(ctx, target, entry, data, req))
    return xml.multistatus(responses)
