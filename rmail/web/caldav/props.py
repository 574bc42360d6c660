"""Live properties of every resource kind, as one table per kind (name -> pure getter).

A getter takes the request context and a `Resource` snapshot (collection metadata, index
entry) and returns the property element, or None when it has no value (404 in a propstat).
Dead properties set by PROPPATCH live in the collection's metadata document under "props"
(Clark name -> serialized XML) and are served from there.

`Schedule-Inbox` is an ordinary calendar that iMIP import fills; it is deliberately not
advertised as an RFC 6638 `schedule-inbox-URL`, whose clients would treat (and delete) its
events as unprocessed scheduling messages.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from rmail.store.calendars import COMPONENTS, MAX_OBJECT_BYTES
from rmail.store.contacts import MAX_CARD_BYTES
from rmail.store.davstore import Index
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
from rmail.web.caldav.xml import c, cr, cs, d, elem, ical


@dataclass
class Resource:
    target: Target
    href: str
    meta: dict[str, Any] | None = None     # collection metadata document
    index: Index | None = None             # collection index
    entry: dict[str, Any] | None = None    # object index entry


Getter = Callable[[DavContext, Resource], ET.Element | None]


def _e(tag: str, text: str | None = None, *children: ET.Element) -> ET.Element:
    return elem(tag, text, *children)


def _hrefs(tag: str, *values: str) -> ET.Element:
    return _e(tag, None, *(xml.href(v) for v in values))


def resourcetype(ctx: DavContext, res: Resource) -> ET.Element:
    kind = res.target.kind
    node = _e(d("resourcetype"))
    if kind in (ROOT, PRINCIPAL, CAL_HOME, BOOK_HOME, CALENDAR, BOOK):
        node.append(_e(d("collection")))
    if kind == PRINCIPAL:
        node.append(_e(d("principal")))
    elif kind == CALENDAR:
        node.append(_e(c("calendar")))
    elif kind == BOOK:
        node.append(_e(cr("addressbook")))
    return node


def current_user_principal(ctx: DavContext, res: Resource) -> ET.Element:
    return _hrefs(d("current-user-principal"), ctx.principal_href)


def principal_url(ctx: DavContext, res: Resource) -> ET.Element:
    return _hrefs(d("principal-URL"), ctx.principal_href)


def owner(ctx: DavContext, res: Resource) -> ET.Element:
    return _hrefs(d("owner"), ctx.principal_href)


def principal_collection_set(ctx: DavContext, res: Resource) -> ET.Element:
    return _hrefs(d("principal-collection-set"), "/caldav/")


def calendar_home_set(ctx: DavContext, res: Resource) -> ET.Element:
    return _hrefs(c("calendar-home-set"), ctx.cal_home_href)


def addressbook_home_set(ctx: DavContext, res: Resource) -> ET.Element:
    return _hrefs(cr("addressbook-home-set"), ctx.book_home_href)


def calendar_user_address_set(ctx: DavContext, res: Resource) -> ET.Element:
    account = ctx.principal.account
    addresses = list(account.addresses) or [account.address]
    return _hrefs(c("calendar-user-address-set"), *(f"mailto:{a}" for a in addresses),
                  ctx.principal_href)


def calendar_user_type(ctx: DavContext, res: Resource) -> ET.Element:
    return _e(c("calendar-user-type"), "INDIVIDUAL")


def principal_displayname(ctx: DavContext, res: Resource) -> ET.Element:
    account = ctx.principal.account
    return _e(d("displayname"), account.display_name or account.username)


def home_displayname(ctx: DavContext, res: Resource) -> ET.Element:
    return _e(d("displayname"), "Calendars" if res.target.kind == CAL_HOME else "Contacts")


def _meta(res: Resource, key: str) -> Any:
    return (res.meta or {}).get(key)


def displayname(ctx: DavContext, res: Resource) -> ET.Element | None:
    value = _meta(res, "displayname")
    return _e(d("displayname"), str(value)) if value is not None else None


def calendar_description(ctx: DavContext, res: Resource) -> ET.Element | None:
    value = _meta(res, "description")
    return _e(c("calendar-description"), str(value)) if value else None


def addressbook_description(ctx: DavContext, res: Resource) -> ET.Element | None:
    value = _meta(res, "description")
    return _e(cr("addressbook-description"), str(value)) if value else None


def calendar_color(ctx: DavContext, res: Resource) -> ET.Element | None:
    value = _meta(res, "color")
    return _e(ical("calendar-color"), str(value)) if value else None


def calendar_order(ctx: DavContext, res: Resource) -> ET.Element | None:
    value = _meta(res, "order")
    return _e(ical("calendar-order"), str(value)) if value is not None else None


def calendar_timezone(ctx: DavContext, res: Resource) -> ET.Element | None:
    value = _meta(res, "timezone")
    return _e(c("calendar-timezone"), str(value)) if value else None


def supported_components(ctx: DavContext, res: Resource) -> ET.Element:
    comps = _meta(res, "components") or list(COMPONENTS)
    return _e(c("supported-calendar-component-set"), None,
              *(elem(c("comp"), attrib={"name": name}) for name in comps))


def supported_calendar_data(ctx: DavContext, res: Resource) -> ET.Element:
    return _e(c("supported-calendar-data"), None,
              elem(c("calendar-data"), attrib={"content-type": "text/calendar",
                                               "version": "2.0"}))


def supported_address_data(ctx: DavContext, res: Resource) -> ET.Element:
    return _e(cr("supported-address-data"), None,
              *(elem(cr("address-data-type"), attrib={"content-type": "text/vcard",
                                                      "version": v}) for v in ("3.0", "4.0")))


def max_resource_size(ctx: DavContext, res: Resource) -> ET.Element:
    if res.target.kind == CALENDAR:
        return _e(c("max-resource-size"), str(MAX_OBJECT_BYTES))
    return _e(cr("max-resource-size"), str(MAX_CARD_BYTES))


def getctag(ctx: DavContext, res: Resource) -> ET.Element | None:
    return _e(cs("getctag"), str(res.index.ctag)) if res.index is not None else None


def sync_token(ctx: DavContext, res: Resource) -> ET.Element | None:
    return _e(d("sync-token"), res.index.sync_token) if res.index is not None else None


def collection_etag(ctx: DavContext, res: Resource) -> ET.Element | None:
    return _e(d("getetag"), f'"ctag-{res.index.ctag}"') if res.index is not None else None


def supported_report_set(ctx: DavContext, res: Resource) -> ET.Element:
    kind = res.target.kind
    if kind in (CALENDAR, EVENT):
        names = [c("calendar-multiget"), c("calendar-query"), c("free-busy-query")]
    elif kind in (BOOK, CARD):
        names = [cr("addressbook-multiget"), cr("addressbook-query")]
    else:
        names = []
    if kind in (CALENDAR, BOOK):
        names.append(d("sync-collection"))
    node = _e(d("supported-report-set"))
    for name in names:
        node.append(_e(d("supported-report"), None, _e(d("report"), None, _e(name))))
    return node


_PRIVILEGES = ("read", "write", "write-properties", "write-content", "bind", "unbind",
               "read-current-user-privilege-set")


def current_user_privilege_set(ctx: DavContext, res: Resource) -> ET.Element:
    node = _e(d("current-user-privilege-set"))
    for name in _PRIVILEGES:
        node.append(_e(d("privilege"), None, _e(d(name))))
    if res.target.kind == CALENDAR:
        for name in ("schedule-deliver", "schedule-send"):
            node.append(_e(d("privilege"), None, _e(c(name))))
    return node


def getetag(ctx: DavContext, res: Resource) -> ET.Element | None:
    return _e(d("getetag"), res.entry["etag"]) if res.entry else None


def getcontentlength(ctx: DavContext, res: Resource) -> ET.Element | None:
    return _e(d("getcontentlength"), str(res.entry.get("size", 0))) if res.entry else None


def getlastmodified(ctx: DavContext, res: Resource) -> ET.Element | None:
    if not res.entry:
        return None
    return _e(d("getlastmodified"), formatdate(res.entry.get("mtime", 0), usegmt=True))


def event_contenttype(ctx: DavContext, res: Resource) -> ET.Element:
    comp = str((res.entry or {}).get("comp", "VEVENT")).lower()
    return _e(d("getcontenttype"), f"text/calendar; charset=utf-8; component={comp}")


def card_contenttype(ctx: DavContext, res: Resource) -> ET.Element:
    return _e(d("getcontenttype"), "text/vcard; charset=utf-8")


_COMMON: dict[str, Getter] = {
    d("resourcetype"): resourcetype,
    d("current-user-principal"): current_user_principal,
    d("current-user-privilege-set"): current_user_privilege_set,
    d("supported-report-set"): supported_report_set,
    d("principal-collection-set"): principal_collection_set,
}

PROPS: dict[str, dict[str, Getter]] = {
    ROOT: dict(_COMMON),
    PRINCIPAL: {
        **_COMMON,
        d("displayname"): principal_displayname,
        d("principal-URL"): principal_url,
        d("owner"): owner,
        c("calendar-home-set"): calendar_home_set,
        c("calendar-user-address-set"): calendar_user_address_set,
        c("calendar-user-type"): calendar_user_type,
        cr("addressbook-home-set"): addressbook_home_set,
    },
    CAL_HOME: {**_COMMON, d("displayname"): home_displayname, d("owner"): owner,
               c("calendar-home-set"): calendar_home_set},
    BOOK_HOME: {**_COMMON, d("displayname"): home_displayname, d("owner"): owner,
                cr("addressbook-home-set"): addressbook_home_set},
    CALENDAR: {
        **_COMMON,
        d("owner"): owner,
        d("displayname"): displayname,
        c("calendar-description"): calendar_description,
        ical("calendar-color"): calendar_color,
        ical("calendar-order"): calendar_order,
        c("calendar-timezone"): calendar_timezone,
        c("supported-calendar-component-set"): supported_components,
        c("supported-calendar-data"): supported_calendar_data,
        c("max-resource-size"): max_resource_size,
        cs("getctag"): getctag,
        d("sync-token"): sync_token,
        d("getetag"): collection_etag,
    },
    BOOK: {
        **_COMMON,
        d("owner"): owner,
        d("displayname"): displayname,
        cr("addressbook-description"): addressbook_description,
        cr("supported-address-data"): supported_address_data,
        cr("max-resource-size"): max_resource_size,
        cs("getctag"): getctag,
        d("sync-token"): sync_token,
        d("getetag"): collection_etag,
    },
    EVENT: {
        d("resourcetype"): resourcetype,
        d("getetag"): getetag,
        d("getcontenttype"): event_contenttype,
        d("getcontentlength"): getcontentlength,
        d("getlastmodified"): getlastmodified,
        d("current-user-privilege-set"): current_user_privilege_set,
        d("owner"): owner,
    },
    CARD: {
        d("resourcetype"): resourcetype,
        d("getetag"): getetag,
        d("getcontenttype"): card_contenttype,
        d("getcontentlength"): getcontentlength,
        d("getlastmodified"): getlastmodified,
        d("current-user-privilege-set"): current_user_privilege_set,
        d("owner"): owner,
    },
}

# allprop (RFC 4918 §9.1) returns these live properties; the others only when named.
ALLPROP_SKIP = {d("current-user-privilege-set"), d("supported-report-set"),
                d("principal-collection-set")}

# Properties a client may set with PROPPATCH / MKCALENDAR (metadata key for each).
WRITABLE: dict[str, str] = {
    d("displayname"): "displayname",
    c("calendar-description"): "description",
    cr("addressbook-description"): "description",
    ical("calendar-color"): "color",
    ical("calendar-order"): "order",
    c("calendar-timezone"): "timezone",
}


def dead_props(res: Resource) -> dict[str, str]:
    props = (res.meta or {}).get("props")
    return props if isinstance(props, dict) else {}


def get_prop(ctx: DavContext, res: Resource, name: str) -> ET.Element | None:
    getter = PROPS.get(res.target.kind, {}).get(name)
    if getter is not None:
        return getter(ctx, res)
    stored = dead_props(res).get(name)
    if stored is not None:
        try:
            return ET.fromstring(stored)
        except ET.ParseError:
            return None
    return None


def all_props(ctx: DavContext, res: Resource) -> list[ET.Element]:
    out: list[ET.Element] = []
    for name, getter in PROPS.get(res.target.kind, {}).items():
        if name in ALLPROP_SKIP:
            continue
        value = getter(ctx, res)
        if value is not None:
            out.append(value)
    for name in dead_props(res):
        value = get_prop(ctx, res, name)
        if value is not None:
            out.append(value)
    return out


def prop_names(res: Resource) -> list[str]:
    return list(PROPS.get(res.target.kind, {})) + list(dead_props(res))


def propstats_for(ctx: DavContext, res: Resource, names: list[str] | None,
                  *, extra: Callable[[str], ET.Element | None] | None = None
                  ) -> list[ET.Element]:
    """Propstats for named properties (None: allprop), unknown ones as 404."""
    if names is None:
        found = all_props(ctx, res)
        return [xml.propstat(found, 200)]
    found, missing = [], []
    for name in names:
        value = extra(name) if extra is not None else None
        if value is None:
            value = get_prop(ctx, res, name)
        if value is None:
            missing.append(ET.Element(name))
        else:
            found.append(value)
    out = []
    if found:
        out.append(xml.propstat(found, 200))
    if missing:
        out.append(xml.propstat(missing, 404))
    return out
