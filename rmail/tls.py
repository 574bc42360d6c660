"""TLS: the server certificate and SSL contexts.

Without a configured certificate, the first start writes a self-signed one to
``{mail_root}/tls/`` (``cert.pem``, and ``key.pem`` with mode 0600) and every later start
reuses it, so a client that accepted it once keeps trusting it. It is replaced only when it
expires within a week, no longer names the configured hostname, or does not match its key.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from rmail.config import Config, ConfigError
from rmail.store.fsutil import atomic_write

__all__ = [
    "CERT_FILE",
    "KEY_FILE",
    "certificate_paths",
    "client_context_trusting",
    "ensure_certificate",
    "generate_self_signed",
    "server_context",
]

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
VALID_DAYS = 730
RENEW_BEFORE = dt.timedelta(days=7)
LOOPBACK_NAMES = ("localhost",)
LOOPBACK_IPS = ("127.0.0.1", "::1")


def ensure_certificate(config: Config) -> tuple[Path, Path]:
    """Return ``(cert, key)`` paths: the configured pair, else the self-signed one.

    A configured pair is loaded once here, so a wrong path or a key that does not match
    is a startup error naming ``tls.cert``, not a failure at the first TLS handshake.
    """
    if config.tls.cert is not None and config.tls.key is not None:
        cert, key = config.tls.cert, config.tls.key
        for name, path in (("tls.cert", cert), ("tls.key", key)):
            if not path.is_file():
                raise ConfigError(config.source, name, f"file not found: {path}")
        try:
            server_context(cert, key)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                config.source, "tls.cert", f"cannot load {cert} with {key}: {exc}"
            ) from None
        return cert, key

    cert, key = certificate_paths(config)
    directory = cert.parent
    if not _reusable(cert, key, config.hostname):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        cert_pem, key_pem = generate_self_signed(config.hostname)
        # Key first: a crash between the two renames leaves a pair that does not match,
        # which _reusable rejects, so the next start simply generates again.
        atomic_write(key, key_pem, mode=0o600)
        atomic_write(cert, cert_pem, mode=0o644)
    return cert, key


def certificate_paths(config: Config) -> tuple[Path, Path]:
    """``(cert, key)`` without checking or generating anything: for a worker process, whose
    supervisor ran `ensure_certificate` before starting it (so the worker never imports
    `cryptography`, about 7 MB of resident memory, only to re-read a certificate its
    supervisor just checked; `server_context` still fails loudly on a missing or wrong pair)."""
    if config.tls.cert is not None and config.tls.key is not None:
        return config.tls.cert, config.tls.key
    directory = config.mail_root / "tls"
    return directory / CERT_FILE, directory / KEY_FILE


def generate_self_signed(hostname: str, *, days: int = VALID_DAYS) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``hostname``, localhost and the loopback IPs (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(hostname)]
    names += [x509.DNSName(n) for n in LOOPBACK_NAMES if n != hostname]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in LOOPBACK_IPS]
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hostname),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rmail self-signed"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    # An end-entity certificate (CA:FALSE, no keyUsage) that is its own trust anchor:
    # browsers reject CA certificates used as server certificates.
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem


def server_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server-side context (TLS 1.2 or newer) for every TLS listener."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    context.load_cert_chain(str(cert), str(key))
    return context


def client_context_trusting(cert: str | Path) -> ssl.SSLContext:
    """A client context that trusts exactly ``cert`` (for tests and local tools)."""
    context = ssl.create_default_context(cafile=str(cert))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _reusable(cert: Path, key: Path, hostname: str) -> bool:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    if certificate.public_key() != private.public_key():
        return False
    if certificate.not_valid_after_utc - RENEW_BEFORE < dt.datetime.now(dt.UTC):
        return False
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    return hostname in san.value.get_values_for_type(x509.DNSName)
