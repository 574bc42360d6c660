"""DKIM (RFC 6376) signing of outbound mail with dkimpy, and key generation for
``rmail dkim generate DOMAIN``.

A domain's private key lives in ``secrets/dkim/{domain}/{selector}.pem`` (mode 0600) and its
selector in the domain's settings (``dkim_selector`` in ``domain.json``), so generating a new
key under a new selector and publishing it before switching is a key rotation.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
from pathlib import Path

from rmail.delivery.policy import from_addresses
from rmail.store import fsutil
from rmail.store.accounts import Accounts, normalize_domain
from rmail.store.errors import InvalidValue, NotFound
from rmail.store.layout import Layout

__all__ = ["DEFAULT_SELECTOR", "SELECTOR_SETTING", "DkimSigner", "dns_record", "generate_key"]

log = logging.getLogger(__name__)

SELECTOR_SETTING = "dkim_selector"
DEFAULT_SELECTOR = "rmail"
_SELECTOR_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def check_selector(selector: str) -> str:
    if not isinstance(selector, str) or not _SELECTOR_RE.fullmatch(selector):
        raise InvalidValue("a DKIM selector is one DNS label: a-z, 0-9 and '-'")
    return selector


# `dkim` (with dnspython) and `cryptography` are imported where a key is made or a message
# signed, not with this module: every worker builds a signer, few ever sign, and the two cost
# a process about 9 MB of resident memory.


def public_key_b64(private_pem: bytes) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem, password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def dns_record(domain: str, selector: str, private_pem: bytes) -> str:
    """The TXT record to publish, in zone-file form (split into 255-byte strings)."""
    value = f"v=DKIM1; k=rsa; p={public_key_b64(private_pem)}"
    chunks = [value[i:i + 255] for i in range(0, len(value), 255)]
    quoted = " ".join(f'"{c}"' for c in chunks)
    return f"{selector}._domainkey.{domain}. IN TXT ( {quoted} )"


def generate_key(mail_root: str | os.PathLike[str], domain: str, *,
                 selector: str = DEFAULT_SELECTOR, bits: int = 2048,
                 force: bool = False) -> tuple[Path, str]:
    """Create a key for ``domain`` under ``selector`` and make it the signing key. Returns the
    key file and the DNS record to publish. An existing key file is kept (and its record
    returned) unless ``force``."""
    accounts = Accounts(mail_root)
    name = normalize_domain(domain)
    selector = check_selector(selector)
    accounts.domain(name)  # NotFound for a domain that is not ours
    path = Layout(mail_root).dkim_key(name, selector)
    if path.exists() and not force:
        pem = path.read_bytes()
    else:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fsutil.ensure_dir(path.parent.parent)
        os.chmod(path.parent.parent.parent, 0o700)
        fsutil.ensure_dir(path.parent)
        fsutil.atomic_write(path, pem, mode=0o600)
    accounts.set_domain_setting(name, SELECTOR_SETTING, selector)
    return path, dns_record(name, selector, pem)


class DkimSigner:
    """Signs with the key of the domain of the message's From: address, when there is one."""

    def __init__(self, mail_root: str | os.PathLike[str], accounts: Accounts) -> None:
        self.layout = Layout(mail_root)
        self.accounts = accounts
        self._keys: dict[Path, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def key(self, domain: str) -> tuple[str, bytes] | None:
        """(selector, private key PEM) of a local domain, or None."""
        try:
            selector = self.accounts.domain(domain).settings.get(SELECTOR_SETTING)
        except (NotFound, InvalidValue):
            return None
        if not selector:
            return None
        path = self.layout.dkim_key(normalize_domain(domain), check_selector(selector))
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            log.warning("DKIM key %s for %s is missing; sending unsigned", path, domain)
            return None
        with self._lock:
            cached = self._keys.get(path)
            if cached is None or cached[0] != mtime:
                cached = (mtime, path.read_bytes())
                self._keys[path] = cached
        return selector, cached[1]

    def sign(self, raw: bytes) -> bytes:
        """``raw`` with a ``DKIM-Signature:`` field in front, or unchanged when the From:
        domain has no key (or the message cannot be signed)."""
        addresses = from_addresses(raw)
        if not addresses:
            return raw
        domain = addresses[0].rpartition("@")[2]
        try:
            key = self.key(domain)
        except InvalidValue:
            return raw
        if key is None:
            return raw
        selector, pem = key
        import dkim

        try:
            header = dkim.sign(raw, selector.encode(), normalize_domain(domain).encode(), pem,
                               canonicalize=(b"relaxed", b"relaxed"))
        except dkim.DKIMException:
            log.exception("DKIM signing for %s failed; sending unsigned", domain)
            return raw
        return header + raw
