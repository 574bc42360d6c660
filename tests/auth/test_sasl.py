"""SASL PLAIN and LOGIN decoding."""

from __future__ import annotations

import base64

import pytest

from rmail.auth.sasl import SaslError, b64decode, decode_plain, decode_text, encode_text


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(("raw", "parts"), [
    (b"\0alice@example.com\0s3cret", ("", "alice@example.com", "s3cret")),
    (b"admin\0alice\0pw", ("admin", "alice", "pw")),
    ("\0jöhn\0pässwörd 😀".encode(), ("", "jöhn", "pässwörd 😀")),
    (b"\0alice\0", ("", "alice", "")),
])
def test_plain(raw: bytes, parts: tuple[str, str, str]) -> None:
    assert decode_plain(b64(raw)) == parts
    assert decode_plain(b64(raw).encode()) == parts


@pytest.mark.parametrize("data", [
    "", "=", "not base64!", "YWJj=ZGVm", "\u00e9",
    b64(b"alice\0pw"), b64(b"a\0b\0c\0d"), b64(b"authz\0\0pw"), b64(b"\0\xff\xfe\0pw"),
])
def test_plain_malformed(data: str) -> None:
    with pytest.raises(SaslError):
        decode_plain(data)


def test_login_steps() -> None:
    assert decode_text(encode_text("alice@example.com")) == "alice@example.com"
    assert decode_text(encode_text("pässwörd")) == "pässwörd"
    assert decode_text("") == ""
    assert encode_text("Username:") == "VXNlcm5hbWU6"


@pytest.mark.parametrize("data", ["***", "YQ", b64(b"\xff\xfe")])
def test_login_malformed(data: str) -> None:
    with pytest.raises(SaslError):
        decode_text(data)


def test_sasl_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        b64decode("%%%")
