"""Thunderbird autoconfig, Outlook autodiscover and the Apple profile, parsed as clients do."""

from __future__ import annotations

import plistlib
import xml.etree.ElementTree as ET
from typing import Any

from tests.web.conftest import Api, MakeApi

PORTS = {"imap": 10143, "imaps": 10993, "submission": 10587, "submissions": 10465,
         "pop3": 10110, "pop3s": 10995}


def listeners(*, pop3: bool) -> dict[str, dict[str, Any]]:
    """Mail listeners enabled on fixed ports in the config (the app is served alone, so
    nothing binds them)."""
    out: dict[str, dict[str, Any]] = {}
    for name, port in PORTS.items():
        out[name] = {"enabled": pop3 or not name.startswith("pop3"), "port": port}
    return out


async def autoconfig_api(make_api: MakeApi, *, pop3: bool = False) -> Api:
    return await make_api(app_only=True, hostname="mail.example.com",
                          listeners=listeners(pop3=pop3))


def servers(xml: bytes) -> tuple[ET.Element, list[dict[str, str]]]:
    root = ET.fromstring(xml)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None
    out = []
    for element in provider:
        if element.tag in ("incomingServer", "outgoingServer"):
            entry = {child.tag: child.text or "" for child in element}
            entry["kind"], entry["type"] = element.tag, element.get("type", "")
            out.append(entry)
    return provider, out


async def test_thunderbird_config(make_api: MakeApi) -> None:
    api = await autoconfig_api(make_api)
    for path in ("/.well-known/autoconfig/mail/config-v1.1.xml",
                 "/mail/config-v1.1.xml"):
        reply = await api.call("GET", path + "?emailaddress=alice%40example.com")
        assert reply.status == 200, path
        assert reply.headers["Content-Type"].startswith("application/xml")
        provider, found = servers(reply.body)
        assert provider.get("id") == "example.com"
        assert provider.findtext("domain") == "example.com"
        summary = {(s["kind"], s["type"], s["port"], s["socketType"]) for s in found}
        assert summary == {
            ("incomingServer", "imap", "10993", "SSL"),
            ("incomingServer", "imap", "10143", "STARTTLS"),
            ("outgoingServer", "smtp", "10465", "SSL"),
            ("outgoingServer", "smtp", "10587", "STARTTLS"),
        }
        for server in found:
            assert server["hostname"] == "mail.example.com"
            assert server["username"] == "%EMAILADDRESS%"
            assert server["authentication"] == "password-cleartext"
        # implicit TLS is offered first (RFC 8314)
        assert [s["socketType"] for s in found if s["type"] == "imap"] == ["SSL", "STARTTLS"]


async def test_thunderbird_pop3_only_when_enabled(make_api: MakeApi) -> None:
    api = await autoconfig_api(make_api, pop3=True)
    reply = await api.call("GET", "/.well-known/autoconfig/mail/config-v1.1.xml"
                                  "?emailaddress=bob@example.com")
    _, found = servers(reply.body)
    pop3 = {(s["port"], s["socketType"]) for s in found if s["type"] == "pop3"}
    assert pop3 == {("10995", "SSL"), ("10110", "STARTTLS")}


async def test_thunderbird_errors_and_defaults(api: Api) -> None:
    unknown = await api.call("GET", "/mail/config-v1.1.xml?emailaddress=x@elsewhere.test")
    assert unknown.status == 404
    bad = await api.call("GET", "/mail/config-v1.1.xml?emailaddress=not-an-address")
    assert bad.status == 400
    default = await api.call("GET", "/mail/config-v1.1.xml")
    assert default.status == 200
    provider, found = servers(default.body)
    assert provider.get("id") == "example.com"
    assert found == []  # the test config enables no mail listener: nothing to offer


OUTLOOK_REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>{email}</EMailAddress>
    <AcceptableResponseSchema>{schema}</AcceptableResponseSchema>
  </Request>
</Autodiscover>"""
OUTLOOK_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
NS = {"a": "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006",
      "o": OUTLOOK_SCHEMA}


async def test_outlook_autodiscover(make_api: MakeApi) -> None:
    api = await autoconfig_api(make_api)
    body = OUTLOOK_REQUEST.format(email="alice@example.com", schema=OUTLOOK_SCHEMA)
    for path in ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"):
        reply = await api.call("POST", path, data=body.encode(),
                               headers={"Content-Type": "text/xml"})
        assert reply.status == 200, reply.body
        root = ET.fromstring(reply.body)
        account = root.find("o:Response/o:Account", NS)
        assert account is not None
        assert account.findtext("o:AccountType", namespaces=NS) == "email"
        assert account.findtext("o:Action", namespaces=NS) == "settings"
        protocols = {p.findtext("o:Type", namespaces=NS): p
                     for p in account.findall("o:Protocol", NS)}
        assert set(protocols) == {"IMAP", "SMTP"}
        imap, smtp = protocols["IMAP"], protocols["SMTP"]
        assert imap.findtext("o:Server", namespaces=NS) == "mail.example.com"
        assert imap.findtext("o:Port", namespaces=NS) == "10993"
        assert imap.findtext("o:Encryption", namespaces=NS) == "SSL"
        assert imap.findtext("o:LoginName", namespaces=NS) == "alice@example.com"
        assert smtp.findtext("o:Port", namespaces=NS) == "10465"


async def test_outlook_autodiscover_errors(api: Api) -> None:
    async def post(data: bytes) -> tuple[int, str | None]:
        reply = await api.call("POST", "/autodiscover/autodiscover.xml", data=data)
        root = ET.fromstring(reply.body)
        return reply.status, root.findtext("a:Response/a:Error/a:ErrorCode", namespaces=NS)

    assert await post(b"<not xml") == (400, "600")
    assert await post(b"<Autodiscover/>") == (400, "600")
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><r><EMailAddress>&b;</EMailAddress></r>')
    assert await post(bomb) == (400, "600")
    other = OUTLOOK_REQUEST.format(email="x@elsewhere.test", schema=OUTLOOK_SCHEMA).encode()
    assert (await post(other))[0] == 404
    mobile = OUTLOOK_REQUEST.format(
        email="alice@example.com",
        schema="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/"
               "responseschema/2006").encode()
    assert await post(mobile) == (400, "601")
    big = await api.call("POST", "/autodiscover/autodiscover.xml", data=b"x" * 100_000)
    assert big.status == 413


async def test_apple_profile(make_api: MakeApi) -> None:
    api = await autoconfig_api(make_api)
    reply = await api.call("GET", "/mobileconfig?emailaddress=alice@example.com")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/x-apple-aspen-config"
    assert 'filename="example.com.mobileconfig"' in reply.headers["Content-Disposition"]
    profile = plistlib.loads(reply.body)
    assert profile["PayloadType"] == "Configuration"
    (mail,) = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["EmailAddress"] == "alice@example.com"
    assert mail["IncomingMailServerHostName"] == "mail.example.com"
    assert mail["IncomingMailServerPortNumber"] == 10993
    assert mail["OutgoingMailServerPortNumber"] == 10465
    assert mail["IncomingMailServerUsername"] == "alice@example.com"
    again = plistlib.loads((await api.call(
        "GET", "/mobileconfig?emailaddress=alice@example.com")).body)
    assert again["PayloadUUID"] == profile["PayloadUUID"]  # reinstalling replaces
    assert (await api.call("GET", "/mobileconfig")).status == 400
    assert (await api.call("GET", "/mobileconfig?emailaddress=a@elsewhere.test")).status == 404
