"""Thunderbird autoconfig, `config-v1.1.xml` (the "clientConfig" format Thunderbird's account
wizard fetches from `/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=...`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rmail.web.autoconfig.settings import ClientSettings, Endpoint

CONTENT_TYPE = "application/xml"


def _server(parent: ET.Element, tag: str, hostname: str, endpoint: Endpoint) -> None:
    server = ET.SubElement(parent, tag, type=endpoint.protocol)
    for name, value in (
        ("hostname", hostname),
        ("port", str(endpoint.port)),
        ("socketType", endpoint.security),
        ("authentication", "password-cleartext"),
        ("username", "%EMAILADDRESS%"),  # Thunderbird substitutes the address typed in
    ):
        ET.SubElement(server, name).text = value


def build(settings: ClientSettings) -> bytes:
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=settings.domain)
    ET.SubElement(provider, "domain").text = settings.domain
    ET.SubElement(provider, "displayName").text = f"{settings.domain} (rmail)"
    ET.SubElement(provider, "displayShortName").text = settings.domain
    for endpoint in settings.of("imap") + settings.of("pop3"):
        _server(provider, "incomingServer", settings.hostname, endpoint)
    for endpoint in settings.of("smtp"):
        _server(provider, "outgoingServer", settings.hostname, endpoint)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
