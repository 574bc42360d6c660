"""Outlook "POX" autodiscover: the request names an address, the response lists IMAP/POP3/SMTP
settings (schema `.../outlook/responseschema/2006a`)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from xml.sax.saxutils import escape

import xmltodict

from rmail.web.autoconfig.settings import SSL, ClientSettings

CONTENT_TYPE = "application/xml"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


class BadRequest(ValueError):
    """The posted document is not an autodiscover request we can answer."""


def _find(node: Any, name: str) -> str | None:
    """The text of the first element called `name` (any namespace prefix), depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.rpartition(":")[2] == name and isinstance(value, str):
                return value.strip()
            found = _find(value, name)
            if found is not None:
                return found
    elif isinstance(node, list):
        for item in node:
            found = _find(item, name)
            if found is not None:
                return found
    return None


def parse_request(body: bytes) -> tuple[str, str | None]:
    """(email address, acceptable response schema) of a POX request."""
    try:
        # disable_entities: a DTD with entity declarations is refused (no entity expansion).
        doc = xmltodict.parse(body, disable_entities=True)
    except Exception as exc:  # expat errors, ValueError for entities
        raise BadRequest("request is not well-formed XML") from exc
    email = _find(doc, "EMailAddress")
    if not email:
        raise BadRequest("request has no EMailAddress")
    return email, _find(doc, "AcceptableResponseSchema")


def _protocol(settings: ClientSettings, kind: str, email: str) -> str:
    endpoint = settings.preferred(kind.lower())
    if endpoint is None:
        return ""
    encryption = "SSL" if endpoint.security == SSL else "TLS"
    return f"""      <Protocol>
        <Type>{kind}</Type>
        <Server>{escape(settings.hostname)}</Server>
        <Port>{endpoint.port}</Port>
        <DomainRequired>off</DomainRequired>
        <LoginName>{escape(email)}</LoginName>
        <SPA>off</SPA>
        <Encryption>{encryption}</Encryption>
        <AuthRequired>on</AuthRequired>
      </Protocol>
"""


def build(settings: ClientSettings, email: str, display_name: str = "") -> bytes:
    protocols = "".join(_protocol(settings, kind, email) for kind in ("IMAP", "POP3", "SMTP"))
    user = f"    <User><DisplayName>{escape(display_name or email)}</DisplayName></User>\n"
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="{RESPONSE_NS}">
  <Response xmlns="{OUTLOOK_SCHEMA}">
{user}    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
{protocols}    </Account>
  </Response>
</Autodiscover>
""".encode()


def error(message: str, code: int = 600) -> bytes:
    """Exchange's error form: 600 Invalid Request, 601 Provider unavailable."""
    now = dt.datetime.now(dt.UTC).strftime("%H:%M:%S")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="{RESPONSE_NS}">
  <Response>
    <Error Time="{now}" Id="0">
      <ErrorCode>{code}</ErrorCode>
      <Message>{escape(message)}</Message>
      <DebugData />
    </Error>
  </Response>
</Autodiscover>
""".encode()
