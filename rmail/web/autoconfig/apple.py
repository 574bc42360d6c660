"""An Apple configuration profile (`.mobileconfig`, a property list) that sets up the mail
account on iOS/iPadOS/macOS in one tap. Unsigned: the device shows it as "Not Verified"."""

from __future__ import annotations

import plistlib
import uuid
from typing import Any

from rmail.web.autoconfig.settings import ClientSettings

CONTENT_TYPE = "application/x-apple-aspen-config"
_NAMESPACE = uuid.UUID("7d1f5d0e-2b55-4f7a-9a39-6f0b9d1b2c11")  # rmail's uuid5 namespace


def _uuid(*parts: str) -> str:
    """Stable per address, so installing the profile again replaces the old one."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts))).upper()


def build(settings: ClientSettings, email: str, display_name: str = "") -> bytes:
    identifier = ".".join(reversed(settings.hostname.split("."))) + ".rmail"
    mail: dict[str, Any] = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.mail.{email}",
        "PayloadUUID": _uuid("mail", email),
        "PayloadDisplayName": f"Mail ({email})",
        "EmailAccountDescription": email,
        "EmailAccountName": display_name or email,
        "EmailAddress": email,
        "EmailAccountType": "EmailTypeIMAP",
        "IncomingMailServerHostName": settings.hostname,
        "IncomingMailServerUsername": email,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": settings.hostname,
        "OutgoingMailServerUsername": email,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    incoming = settings.preferred("imap")
    if incoming is None and (incoming := settings.preferred("pop3")) is not None:
        mail["EmailAccountType"] = "EmailTypePOP"
    if incoming is not None:
        mail["IncomingMailServerPortNumber"] = incoming.port
        mail["IncomingMailServerUseSSL"] = True  # STARTTLS counts as SSL for Apple Mail
    outgoing = settings.preferred("smtp")
    if outgoing is not None:
        mail["OutgoingMailServerPortNumber"] = outgoing.port
        mail["OutgoingMailServerUseSSL"] = True
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.{email}",
        "PayloadUUID": _uuid("profile", email),
        "PayloadDisplayName": f"{settings.domain} mail",
        "PayloadDescription": f"Mail account {email} on {settings.hostname}",
        "PayloadOrganization": settings.domain,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [mail],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)
