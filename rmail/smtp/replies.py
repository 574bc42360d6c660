"""Reply codes of the SMTP/LMTP front end (the delivery outcomes live in
`rmail.delivery.replies`; this adds what only a protocol session says)."""

from __future__ import annotations

import re

from rmail.delivery.replies import (
    ALIAS_LOOP,
    BAD_ADDRESS,
    BAD_SENDER,
    DELIVERED,
    FROM_NOT_ALLOWED,
    LOCAL_ERROR,
    MAILBOX_DISABLED,
    MAILBOX_FULL,
    MESSAGE_OVER_QUOTA,
    NO_FROM_HEADER,
    NO_SUCH_USER,
    NOT_LOCAL,
    QUEUED,
    RATE_LIMITED,
    RECIPIENT_OK,
    SENDER_NOT_ALLOWED,
    SENDER_OK,
    SUBMISSION_DISABLED,
    TOO_MANY_RECIPIENTS,
    Reply,
)

__all__ = [
    "ALIAS_LOOP",
    "AUTH_INVALID",
    "AUTH_LOCKED",
    "AUTH_MALFORMED",
    "AUTH_NOT_AVAILABLE",
    "AUTH_OK",
    "AUTH_REQUIRED",
    "AUTH_TOO_WEAK",
    "AUTH_WRONG_SCOPE",
    "BAD_ADDRESS",
    "BAD_SENDER",
    "DELIVERED",
    "ENCRYPTION_REQUIRED",
    "FROM_NOT_ALLOWED",
    "LMTP_NOT_LOCAL",
    "LOCAL_ERROR",
    "MAILBOX_DISABLED",
    "MAILBOX_FULL",
    "MESSAGE_OVER_QUOTA",
    "NOT_LOCAL",
    "NO_FROM_HEADER",
    "NO_SUCH_USER",
    "QUEUED",
    "RATE_LIMITED",
    "RECIPIENT_OK",
    "SENDER_NOT_ALLOWED",
    "SENDER_OK",
    "SHUTTING_DOWN",
    "SUBMISSION_DISABLED",
    "TOO_MANY_CONNECTIONS",
    "TOO_MANY_RECIPIENTS",
    "Reply",
    "with_enhanced_code",
]

# RFC 4954 §6
AUTH_OK = Reply(235, "2.7.0", "Authentication successful")
AUTH_INVALID = Reply(535, "5.7.8", "Authentication credentials invalid")
# Only once the password is verified may a refusal say more than AUTH_INVALID:
AUTH_TOO_WEAK = Reply(534, "5.7.9", "Authentication mechanism is too weak: two-factor "
                                    "authentication is on, use an application password")
AUTH_WRONG_SCOPE = Reply(535, "5.7.8", "Authentication credentials invalid: this application "
                                       "password is not valid for SMTP")
AUTH_LOCKED = Reply(454, "4.7.0", "Too many failed logins from your address, try again later")
AUTH_MALFORMED = Reply(501, "5.5.2", "Cannot decode the credentials")
AUTH_REQUIRED = Reply(530, "5.7.0", "Authentication required")
ENCRYPTION_REQUIRED = Reply(538, "5.7.11", "Encryption required: use STARTTLS first")
AUTH_NOT_AVAILABLE = Reply(503, "5.5.1", "AUTH is not available on this service")

LMTP_NOT_LOCAL = Reply(550, "5.1.2", "Not a local domain")
TOO_MANY_CONNECTIONS = Reply(421, "4.7.0", "Too many connections from your address")
SHUTTING_DOWN = Reply(421, "4.3.2", "Service shutting down, try again later")

# aiosmtpd's own replies carry no enhanced status code; RFC 2034 §3 wants one on every 2xx,
# 4xx and 5xx reply after EHLO (greeting and EHLO/LHLO replies excepted), so the session
# adds the generic code of each basic code.
_GENERIC: dict[str, str] = {
    "221": "2.0.0", "250": "2.0.0", "252": "2.5.0",
    "421": "4.3.0", "451": "4.3.0", "452": "4.3.1", "454": "4.7.0",
    "500": "5.5.2", "501": "5.5.4", "502": "5.5.1", "503": "5.5.1", "504": "5.5.4",
    "530": "5.7.0", "535": "5.7.8", "538": "5.7.11", "550": "5.0.0", "552": "5.3.4",
    "553": "5.1.3", "554": "5.0.0", "555": "5.5.4",
}
_HAS_CODE = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?:\s|$)")


def with_enhanced_code(line: str) -> str:
    """``"503 Error: need MAIL command"`` -> ``"503 5.5.1 Error: need MAIL command"``."""
    if len(line) < 4 or _HAS_CODE.match(line) or line[3] not in " -":
        return line
    status = _GENERIC.get(line[:3])
    if status is None:
        return line
    rest = line[4:]
    return f"{line[:4]}{status} {rest}" if rest else f"{line[:4]}{status}"
