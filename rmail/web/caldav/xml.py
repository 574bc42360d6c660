"""XML for DAV: a hardened parser and small pure builders (no I/O, no request objects).

The parser refuses DOCTYPEs, entity declarations and external references outright (no
billion-laughs, no XXE: a DAV body never needs them) and the caller bounds the body size before
parsing. Builders return `xml.etree.ElementTree.Element`s with Clark names (`{DAV:}href`);
`serialize` writes them with the usual prefixes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import xml.parsers.expat as expat
from collections.abc import Iterable

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
CS = "http://calendarserver.org/ns/"
ICAL = "http://apple.com/ns/ical/"

PREFIXES = {DAV: "D", CALDAV: "C", CARDDAV: "CR", CS: "CS", ICAL: "I"}
for _uri, _prefix in PREFIXES.items():
    ET.register_namespace(_prefix, _uri)

MAX_XML_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64


class XmlError(ValueError):
    """The body is not acceptable XML; `str(exc)` says why."""


def d(name: str) -> str:
    return f"{{{DAV}}}{name}"


def c(name: str) -> str:
    return f"{{{CALDAV}}}{name}"


def cr(name: str) -> str:
    return f"{{{CARDDAV}}}{name}"


def cs(name: str) -> str:
    return f"{{{CS}}}{name}"


def ical(name: str) -> str:
    return f"{{{ICAL}}}{name}"


class _Forbidden(Exception):
    pass


def _clark(name: str) -> str:
    return "{" + name if "}" in name else name


def parse(body: bytes) -> ET.Element:
    """Parse a request body; raises `XmlError` for anything malformed or unsafe."""
    if len(body) > MAX_XML_BYTES:
        raise XmlError("XML body too large")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")

    def forbid(*_args: object) -> None:
        raise _Forbidden

    def start(name: str, attrs: dict[str, str]) -> None:
        builder.start(_clark(name), {_clark(k): v for k, v in attrs.items()})

    parser.StartDoctypeDeclHandler = forbid  # type: ignore[assignment]
    parser.EntityDeclHandler = forbid  # type: ignore[assignment]
    parser.UnparsedEntityDeclHandler = forbid  # type: ignore[assignment]
    parser.ExternalEntityRefHandler = forbid  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: builder.end(_clark(name))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(body, True)
        root = builder.close()
    except _Forbidden:
        raise XmlError("DOCTYPE and entity declarations are not allowed") from None
    except expat.ExpatError as exc:
        raise XmlError(f"malformed XML: {exc}") from None
    except AssertionError:
        raise XmlError("malformed XML: no root element") from None
    _check_depth(root)
    return root


def _check_depth(root: ET.Element) -> None:
    stack = [(root, 1)]
    while stack:
        elem, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise XmlError("XML nested too deeply")
        stack.extend((child, depth + 1) for child in elem)


def elem(tag: str, text: str | None = None, *children: ET.Element,
         attrib: dict[str, str] | None = None) -> ET.Element:
    node = ET.Element(tag, attrib or {})
    if text is not None:
        node.text = text
    node.extend(children)
    return node


def href(value: str) -> ET.Element:
    return elem(d("href"), value)


def status_line(code: int) -> str:
    from http import HTTPStatus

    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {code} {phrase}"


def propstat(props: Iterable[ET.Element], code: int) -> ET.Element:
    prop = elem(d("prop"))
    prop.extend(props)
    return elem(d("propstat"), None, prop, elem(d("status"), status_line(code)))


def response(href_value: str, propstats: Iterable[ET.Element] = (),
             code: int | None = None) -> ET.Element:
    """A `D:response`: with propstats, or with a bare status (e.g. 404 in sync-collection)."""
    node = elem(d("response"), None, href(href_value))
    if code is not None:
        node.append(elem(d("status"), status_line(code)))
    node.extend(propstats)
    return node


def multistatus(responses: Iterable[ET.Element], sync_token: str | None = None) -> ET.Element:
    node = elem(d("multistatus"))
    node.extend(responses)
    if sync_token is not None:
        node.append(elem(d("sync-token"), sync_token))
    return node


def error(condition: ET.Element, description: str | None = None) -> ET.Element:
    """RFC 4918 §16: `<D:error><precondition/></D:error>`."""
    node = elem(d("error"), None, condition)
    if description:
        node.append(elem(d("responsedescription"), description))
    return node


def serialize(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def text_of(node: ET.Element | None) -> str:
    if node is None:
        return ""
    return "".join(node.itertext()).strip()
