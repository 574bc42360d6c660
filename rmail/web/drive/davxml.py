"""WebDAV XML for the drive: request-body parsers and response builders, pure (bytes in,
bytes or elements out; no request objects, no store).

Parsing goes through defusedxml: no DTDs, no entities, no external references; callers bound
the body size first. Properties are named in Clark notation (`{DAV:}getetag`). A dead property
is stored as the serialised XML of its whole element, so its namespaces, attributes
(`xml:lang`) and mixed content come back exactly as they were set.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

__all__ = [
    "DAV",
    "MAX_XML_BYTES",
    "LockInfo",
    "PropfindRequest",
    "XmlError",
    "activelock",
    "d",
    "http_date",
    "iso_date",
    "lockdiscovery_prop",
    "multistatus",
    "parse_lockinfo",
    "parse_propfind",
    "parse_proppatch",
    "prop_from_xml",
    "prop_to_xml",
    "propstat_response",
    "supportedlock",
]

DAV = "DAV:"
ET.register_namespace("D", DAV)
MAX_XML_BYTES = 1024 * 1024
MAX_NESTING = 64

STATUS_TEXT = {200: "OK", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
               423: "Locked", 424: "Failed Dependency", 500: "Internal Server Error"}


class XmlError(ValueError):
    """The body is not acceptable XML."""


def d(name: str) -> str:
    return f"{{{DAV}}}{name}"


def parse(body: bytes) -> ET.Element:
    if len(body) > MAX_XML_BYTES:
        raise XmlError("XML body too large")
    try:
        root = safe_fromstring(body, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise XmlError(f"malformed XML body: {exc}") from None
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > MAX_NESTING:
            raise XmlError("XML nested too deeply")
        stack.extend((c, depth + 1) for c in el)
    return root


# -- PROPFIND --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PropfindRequest:
    kind: str                              # "allprop", "propname" or "prop"
    names: tuple[str, ...] = ()            # for "prop"; for "allprop": `include`d extras


def parse_propfind(body: bytes) -> PropfindRequest:
    """An empty body means allprop (RFC 4918 §9.1)."""
    if not body.strip():
        return PropfindRequest("allprop")
    root = parse(body)
    if root.tag != d("propfind"):
        raise XmlError("expected DAV:propfind")
    kind = None
    names: list[str] = []
    for child in root:
        if child.tag == d("allprop"):
            kind = "allprop"
        elif child.tag == d("propname"):
            kind = "propname"
        elif child.tag == d("prop"):
            kind = "prop"
            names = [p.tag for p in child]
        elif child.tag == d("include"):
            names.extend(p.tag for p in child)
    if kind is None:
        raise XmlError("DAV:propfind needs allprop, propname or prop")
    return PropfindRequest(kind, tuple(names))


# -- PROPPATCH -------------------------------------------------------------------------------
def parse_proppatch(body: bytes) -> list[tuple[str, str, str | None]]:
    """[("set", name, element XML) | ("remove", name, None)] in document order."""
    root = parse(body)
    if root.tag != d("propertyupdate"):
        raise XmlError("expected DAV:propertyupdate")
    ops: list[tuple[str, str, str | None]] = []
    for action in root:
        if action.tag not in (d("set"), d("remove")):
            continue
        for prop in action:
            if prop.tag != d("prop"):
                continue
            for el in prop:
                if action.tag == d("set"):
                    ops.append(("set", el.tag, prop_to_xml(el)))
                else:
                    ops.append(("remove", el.tag, None))
    if not ops:
        raise XmlError("DAV:propertyupdate changes nothing")
    return ops


def prop_to_xml(el: ET.Element) -> str:
    el.tail = None
    return ET.tostring(el, encoding="unicode")


def prop_from_xml(text: str) -> ET.Element:
    return ET.fromstring(text)  # our own serialisation: trusted, but parsed afresh each time


# -- LOCK --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LockInfo:
    scope: str            # "exclusive" | "shared"
    owner: str = ""       # the <D:owner> element as XML, or ""


def parse_lockinfo(body: bytes) -> LockInfo:
    root = parse(body)
    if root.tag != d("lockinfo"):
        raise XmlError("expected DAV:lockinfo")
    scope = None
    owner = ""
    locktype_ok = False
    for child in root:
        if child.tag == d("lockscope"):
            for s in child:
                if s.tag == d("exclusive"):
                    scope = "exclusive"
                elif s.tag == d("shared"):
                    scope = "shared"
        elif child.tag == d("locktype"):
            locktype_ok = any(t.tag == d("write") for t in child)
        elif child.tag == d("owner"):
            owner = prop_to_xml(child)
    if scope is None or not locktype_ok:
        raise XmlError("lockinfo needs a lockscope and a write locktype")
    return LockInfo(scope, owner)


def supportedlock() -> ET.Element:
    el = ET.Element(d("supportedlock"))
    for scope in ("exclusive", "shared"):
        entry = ET.SubElement(el, d("lockentry"))
        ET.SubElement(ET.SubElement(entry, d("lockscope")), d(scope))
        ET.SubElement(ET.SubElement(entry, d("locktype")), d("write"))
    return el


def activelock(*, scope: str, depth: str, owner: str, timeout: int, token: str,
               root_href: str) -> ET.Element:
    el = ET.Element(d("activelock"))
    ET.SubElement(ET.SubElement(el, d("locktype")), d("write"))
    ET.SubElement(ET.SubElement(el, d("lockscope")), d(scope))
    ET.SubElement(el, d("depth")).text = "infinity" if depth == "infinity" else "0"
    if owner:
        try:
            el.append(ET.fromstring(owner))
        except ET.ParseError:
            pass
    ET.SubElement(el, d("timeout")).text = f"Second-{timeout}"
    ET.SubElement(ET.SubElement(el, d("locktoken")), d("href")).text = token
    ET.SubElement(ET.SubElement(el, d("lockroot")), d("href")).text = root_href
    return el


def lockdiscovery_prop(locks: Iterable[ET.Element]) -> ET.Element:
    el = ET.Element(d("lockdiscovery"))
    el.extend(locks)
    return el


# -- responses ---------------------------------------------------------------------------------
@dataclass
class PropResult:
    href: str
    by_status: dict[int, list[ET.Element]] = field(default_factory=dict)


def propstat_response(href: str, by_status: dict[int, list[ET.Element]]) -> ET.Element:
    resp = ET.Element(d("response"))
    ET.SubElement(resp, d("href")).text = href
    for status, props in by_status.items():
        ps = ET.SubElement(resp, d("propstat"))
        prop = ET.SubElement(ps, d("prop"))
        prop.extend(props)
        ET.SubElement(ps, d("status")).text = f"HTTP/1.1 {status} {STATUS_TEXT.get(status, '')}"
    return resp


def status_response(href: str, status: int) -> ET.Element:
    resp = ET.Element(d("response"))
    ET.SubElement(resp, d("href")).text = href
    ET.SubElement(resp, d("status")).text = f"HTTP/1.1 {status} {STATUS_TEXT.get(status, '')}"
    return resp


def multistatus(responses: Sequence[ET.Element]) -> bytes:
    root = ET.Element(d("multistatus"))
    root.extend(responses)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8",
                                                                      xml_declaration=False)


def prop_document(props: Iterable[ET.Element]) -> bytes:
    """`<D:prop>...</D:prop>`: the body of a LOCK response."""
    root = ET.Element(d("prop"))
    root.extend(props)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8",
                                                                      xml_declaration=False)


@functools.lru_cache(maxsize=4096)
def http_date(ts: float) -> str:
    """RFC 9110 date of a modification time (cached: the same files are served again)."""
    return formatdate(ts, usegmt=True)


def iso_date(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def text_el(name: str, text: str) -> ET.Element:
    el = ET.Element(name)
    el.text = text
    return el
