"""SASL PLAIN and LOGIN decoding (RFC 4616, draft-murchison-sasl-login), shared by IMAP, POP3
and SMTP so each protocol only does its own framing."""

from __future__ import annotations

import base64
import binascii


class SaslError(ValueError):
    """Malformed SASL data: the protocol answers with its own syntax error."""


def b64decode(data: str | bytes) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SaslError("invalid base64") from exc


def decode_plain(data: str | bytes) -> tuple[str, str, str]:
    """base64("authzid\\0authcid\\0password") -> (authzid, authcid, password)."""
    raw = b64decode(data)
    parts = raw.split(b"\0")
    if len(parts) != 3 or not parts[1]:
        raise SaslError("PLAIN needs authzid NUL authcid NUL password")
    try:
        authzid, authcid, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError as exc:
        raise SaslError("PLAIN credentials are not UTF-8") from exc
    return authzid, authcid, password


def decode_text(data: str | bytes) -> str:
    """One base64 step of LOGIN (username or password)."""
    try:
        return b64decode(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SaslError("credentials are not UTF-8") from exc


def encode_text(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
