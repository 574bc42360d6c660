"""DKIM keys (``rmail dkim generate``) and signing; signatures verified with dkimpy."""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest

from rmail.queue.dkim import DkimSigner, dns_record, generate_key
from rmail.store.accounts import Accounts
from rmail.store.errors import InvalidValue, NotFound


def txt_lookup(record: str) -> Callable[..., bytes | None]:
    """A dnsfunc for dkimpy answering with the TXT record `generate_key` printed."""
    value = "".join(re.findall(r'"([^"]*)"', record)).encode()

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return value if name.startswith(b"sel1._domainkey.example.com") else None

    return lookup


def test_generate_sign_verify(tmp_path: Path) -> None:
    root = tmp_path / "mailstore"
    accounts = Accounts(root)
    accounts.add_domain("example.com")
    path, record = generate_key(root, "example.com", selector="sel1", bits=1024)
    assert path == root / "secrets" / "dkim" / "example.com" / "sel1.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "secrets").stat().st_mode) == 0o700
    assert record.startswith("sel1._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; p=")
    assert accounts.domain("example.com").settings["dkim_selector"] == "sel1"
    # Generating again keeps the key (and prints the same record).
    assert generate_key(root, "example.com", selector="sel1")[1] == record

    signer = DkimSigner(root, accounts)
    raw = (b"From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: signed\r\n"
           b"Date: Sun, 22 Nov 2026 01:00:00 +0000\r\n\r\nHello.\r\n")
    signed = signer.sign(raw)
    assert signed.startswith(b"DKIM-Signature: ") and signed.endswith(raw)
    assert dkim.verify(signed, dnsfunc=txt_lookup(record))
    assert not dkim.verify(signed.replace(b"Hello.", b"Bye."), dnsfunc=txt_lookup(record))
    assert record == dns_record("example.com", "sel1", path.read_bytes())


def test_unsigned_without_a_key(tmp_path: Path) -> None:
    root = tmp_path / "mailstore"
    accounts = Accounts(root)
    accounts.add_domain("example.com")
    signer = DkimSigner(root, accounts)
    for raw in (b"From: a@example.com\r\n\r\nx\r\n", b"From: a@elsewhere.example\r\n\r\nx\r\n",
                b"Subject: no from\r\n\r\nx\r\n"):
        assert signer.sign(raw) == raw


def test_bad_input(tmp_path: Path) -> None:
    root = tmp_path / "mailstore"
    Accounts(root).add_domain("example.com")
    with pytest.raises(NotFound):
        generate_key(root, "unknown.example")
    with pytest.raises(InvalidValue):
        generate_key(root, "example.com", selector="../x")


def test_domain_settings_helper(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    accounts.add_domain("example.com")
    accounts.set_domain_setting("example.com", "k", {"a": 1})
    assert Accounts(tmp_path).domain("example.com").settings == {"k": {"a": 1}}
    accounts.set_domain_setting("example.com", "k", None)
    assert accounts.domain("example.com").settings == {}
    with pytest.raises(NotFound):
        accounts.set_domain_setting("nope.example", "k", 1)
