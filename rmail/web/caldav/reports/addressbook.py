"""addressbook-query (RFC 6352 §8.6): prop-filters with text-match (equals, contains,
starts-with, ends-with), param-filter and is-not-defined, combined with test="anyof"/"allof";
`limit/nresults` honoured."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from rmail.ical.vcard import InvalidVCard, parse_vcard
from rmail.web.caldav import xml
from rmail.web.caldav.context import DavContext, Target
from rmail.web.caldav.filters import PropFilter, card_matches, parse_prop_filter
from rmail.web.caldav.reports.common import RequestedProps, member_target, object_response
from rmail.web.caldav.xml import cr


@dataclass(frozen=True)
class CardQuery:
    props: list[PropFilter]
    all_of: bool
    limit: int | None


def parse_query(root: ET.Element) -> CardQuery:
    flt = root.find(cr("filter"))
    props = [parse_prop_filter(p, card=True) for p in flt.findall(cr("prop-filter"))] \
        if flt is not None else []
    all_of = flt is not None and flt.get("test", "anyof").lower() == "allof"
    limit = None
    nres = root.find(f"{cr('limit')}/{cr('nresults')}")
    if nres is not None and xml.text_of(nres).isdigit():
        limit = int(xml.text_of(nres))
    return CardQuery(props, all_of, limit)


def build(ctx: DavContext, target: Target, query: CardQuery, req: RequestedProps) -> ET.Element:
    assert target.collection is not None
    coll = ctx.contacts.get(target.collection)
    responses = []
    for name, entry, data in coll.read_many(list(coll.index().objects)):
        try:
            card = parse_vcard(data)
        except InvalidVCard:
            continue
        if not card_matches(card, query.props, query.all_of):
            continue
        responses.append(object_response(ctx, member_target(target, name), entry, data, req))
        if query.limit is not None and len(responses) >= query.limit:
            break
    return xml.multistatus(responses)
