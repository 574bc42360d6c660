"""sync-collection (RFC 6578): members changed since a token (with the requested properties)
and members removed (404), plus the new token. The token maps to a change position in the
collection index, so the cost follows the number of changes. A token this collection did not
issue, or one older than its pruned tombstones, gets the `valid-sync-token` precondition.
Thunderbird sends `Depth: 1` although the RFC wants none; both are accepted."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rmail.web.caldav import xml
from rmail.web.caldav.context import DavContext, Target
from rmail.web.caldav.errors import DavError
from rmail.web.caldav.reports.common import (
    RequestedProps,
    member_target,
    not_found,
    object_response,
)
from rmail.web.caldav.xml import d


def parse_token(root: ET.Element) -> str:
    level = xml.text_of(root.find(d("sync-level")))
    if level and level not in ("1", "infinite"):
        raise DavError(400, f"unsupported sync-level {level!r}")
    return xml.text_of(root.find(d("sync-token")))


def parse_limit(root: ET.Element) -> int | None:
    """`<D:limit><D:nresults>N</D:nresults></D:limit>` (RFC 6578 §3.7)."""
    text = xml.text_of(root.find(f"{d('limit')}/{d('nresults')}"))
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise DavError(400, f"invalid nresults {text!r}")
    return int(text)


def build(ctx: DavContext, target: Target, token: str, req: RequestedProps,
          limit: int | None = None) -> ET.Element:
    """Blocking: reads the index and the changed objects when their data is requested."""
    coll = ctx.collection(target)
    changes = coll.changes_since(token or None, limit)
    responses = []
    index = coll.index()
    needs_data = req.names is None or any(n in (xml.c("calendar-data"), xml.cr("address-data"))
                                          for n in req.names)
    if needs_data:
        for name, entry, data in coll.read_many(changes.changed):
            responses.append(object_response(ctx, member_target(target, name), entry, data,
                                             req))
    else:
        for name in changes.changed:
            found = index.objects.get(name)
            if found is not None:
                responses.append(object_response(ctx, member_target(target, name), found,
                                                 b"", req))
    for name in changes.removed:
        responses.append(not_found(ctx.href_for(member_target(target, name))))
    if changes.truncated:  # RFC 6578 §3.6: more to come, ask again with the new token
        responses.append(xml.elem(d("response"), None, xml.href(ctx.href_for(target)),
                                  xml.elem(d("status"), xml.status_line(507)),
                                  xml.elem(d("error"), None,
                                           xml.elem(d("number-of-matches-within-limits")))))
    return xml.multistatus(responses, sync_token=changes.token)
