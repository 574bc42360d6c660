"""Live WebDAV properties of drive entries (RFC 4918 §15, RFC 4331 quota), built from an
`Entry`; dead properties come from the entry's stored XML. Pure: no I/O."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable

from rmail.store.drive import DavLock, Entry
from rmail.web.drive import davxml as X
from rmail.web.drive.davxml import d

__all__ = ["ALLPROP", "PROTECTED", "entry_props", "lock_elements"]

# What allprop returns besides dead properties (RFC 4918 §9.1); quota only on request.
ALLPROP = (d("creationdate"), d("displayname"), d("getcontentlength"), d("getcontenttype"),
           d("getetag"), d("getlastmodified"), d("resourcetype"), d("supportedlock"),
           d("lockdiscovery"))
QUOTA = (d("quota-used-bytes"), d("quota-available-bytes"))
# Computed by the server: PROPPATCH may not set or remove them (displayname may be set).
PROTECTED = frozenset(ALLPROP + QUOTA) - {d("displayname")}


def lock_elements(locks: Iterable[DavLock], href_of: Callable[[DavLock], str]) -> list[ET.Element]:
    return [X.activelock(scope=lk.scope, depth=lk.depth, owner=lk.owner,
                         timeout=lk.remaining(), token=lk.token, root_href=href_of(lk))
            for lk in locks]


def entry_props(entry: Entry, names: Iterable[str], *, locks: list[ET.Element],
                quota: Callable[[], tuple[int, int]] | None = None
                ) -> tuple[list[ET.Element], list[ET.Element]]:
    """(found, missing) property elements for `names` on `entry`."""
    found: list[ET.Element] = []
    missing: list[ET.Element] = []
    for name in names:
        el = _one(entry, name, locks, quota)
        if el is None:
            missing.append(ET.Element(name))
        else:
            found.append(el)
    return found, missing


def _one(entry: Entry, name: str, locks: list[ET.Element],
         quota: Callable[[], tuple[int, int]] | None) -> ET.Element | None:
    if name in entry.props:
        return X.prop_from_xml(entry.props[name])
    if name == d("resourcetype"):
        el = ET.Element(name)
        if entry.is_dir:
            ET.SubElement(el, d("collection"))
        return el
    if name == d("displayname"):
        return X.text_el(name, entry.name)
    if name == d("creationdate"):
        return X.text_el(name, X.iso_date(entry.created))
    if name == d("getlastmodified"):
        return X.text_el(name, X.http_date(entry.mtime))
    if name == d("supportedlock"):
        return X.supportedlock()
    if name == d("lockdiscovery"):
        return X.lockdiscovery_prop(locks)
    if not entry.is_dir:
        if name == d("getcontentlength"):
            return X.text_el(name, str(entry.size))
        if name == d("getcontenttype"):
            return X.text_el(name, entry.content_type or "application/octet-stream")
        if name == d("getetag"):
            return X.text_el(name, entry.etag)
    elif name in QUOTA and quota is not None:
        used, available = quota()
        return X.text_el(name, str(used if name == d("quota-used-bytes") else available))
    return None
