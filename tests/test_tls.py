"""The self-signed certificate and the SSL contexts."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from rmail.config import Config, ConfigError
from rmail.tls import client_context_trusting, ensure_certificate, server_context


def load(cert: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert.read_bytes())


def sans(cert: Path) -> tuple[list[str], list[str]]:
    ext = load(cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ext.get_values_for_type(x509.DNSName), [
        str(ip) for ip in ext.get_values_for_type(x509.IPAddress)
    ]


def test_generated_certificate(tmp_config: Config) -> None:
    config = tmp_config.with_overrides(hostname="mail.example.test")
    cert, key = ensure_certificate(config)
    assert (cert, key) == (config.mail_root / "tls/cert.pem", config.mail_root / "tls/key.pem")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.parent.stat().st_mode) == 0o700
    dns, ips = sans(cert)
    assert dns == ["mail.example.test", "localhost"]
    assert ips == ["127.0.0.1", "::1"]
    certificate = load(cert)
    lifetime = certificate.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=700) < lifetime <= dt.timedelta(days=731)
    basic = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False
    server_context(cert, key)  # the pair loads


def test_localhost_is_not_listed_twice(tmp_config: Config) -> None:
    cert, _ = ensure_certificate(tmp_config)
    assert sans(cert)[0] == ["localhost"]


def test_reused_on_second_call(tmp_config: Config) -> None:
    cert, key = ensure_certificate(tmp_config)
    before = cert.read_bytes(), key.read_bytes()
    assert ensure_certificate(tmp_config) == (cert, key)
    assert (cert.read_bytes(), key.read_bytes()) == before


def test_regenerated_for_new_hostname_or_broken_pair(tmp_config: Config) -> None:
    cert, key = ensure_certificate(tmp_config)
    original = cert.read_bytes()
    renamed = tmp_config.with_overrides(hostname="new.example")
    ensure_certificate(renamed)
    assert cert.read_bytes() != original
    assert "new.example" in sans(cert)[0]

    # A crash between writing key and cert leaves a mismatched pair: start over.
    other = tmp_config.with_overrides(mail_root=tmp_config.mail_root.parent / "other")
    _, other_key = ensure_certificate(other)
    key.write_bytes(other_key.read_bytes())
    ensure_certificate(renamed)
    server_context(cert, key)

    cert.write_text("garbage")
    ensure_certificate(renamed)
    server_context(cert, key)


def test_configured_certificate_is_used(tmp_config: Config, tmp_path: Path) -> None:
    made = tmp_config.with_overrides(mail_root=tmp_path / "elsewhere")
    cert, key = ensure_certificate(made)
    config = tmp_config.with_overrides(tls={"cert": cert, "key": key})
    assert ensure_certificate(config) == (cert, key)
    assert not (config.mail_root / "tls").exists()


def test_configured_certificate_problems(tmp_config: Config, tmp_path: Path) -> None:
    missing = tmp_config.with_overrides(
        tls={"cert": tmp_path / "nope.pem", "key": tmp_path / "nope.key"}
    )
    with pytest.raises(ConfigError, match=r"tls\.cert: file not found"):
        ensure_certificate(missing)

    cert_a, _ = ensure_certificate(tmp_config.with_overrides(mail_root=tmp_path / "a"))
    _, key_b = ensure_certificate(tmp_config.with_overrides(mail_root=tmp_path / "b"))
    mismatched = tmp_config.with_overrides(tls={"cert": cert_a, "key": key_b})
    with pytest.raises(ConfigError, match=r"tls\.cert: cannot load"):
        ensure_certificate(mismatched)


def test_server_context_is_tls12_or_newer(tmp_config: Config) -> None:
    context = server_context(*ensure_certificate(tmp_config))
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("server_hostname", ["127.0.0.1", "::1", "localhost", "mail.example"])
async def test_handshake_verifies_every_name(tmp_config: Config, server_hostname: str) -> None:
    config = tmp_config.with_overrides(hostname="mail.example")
    cert, key = ensure_certificate(config)

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0, ssl=server_context(cert, key))
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context_trusting(cert), server_hostname=server_hostname
        )
        assert await reader.readline() == b"hello\n"
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()


async def test_untrusted_name_is_refused(tmp_config: Config) -> None:
    cert, key = ensure_certificate(tmp_config)
    server = await asyncio.start_server(
        lambda r, w: w.close(), "127.0.0.1", 0, ssl=server_context(cert, key)
    )
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_context_trusting(cert), server_hostname="evil.test"
            )
    finally:
        server.close()
        await server.wait_closed()


def test_ip_sans_are_addresses(tmp_config: Config) -> None:
    cert, _ = ensure_certificate(tmp_config)
    for ip in sans(cert)[1]:
        assert ipaddress.ip_address(ip).is_loopback
