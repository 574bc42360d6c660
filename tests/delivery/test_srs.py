"""SRS addresses on their own: round trips, forgery, age, SRS1 and the stored key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rmail.delivery.srs import MAX_AGE_DAYS, Srs, SrsError

DAY = 86400.0


def test_round_trip_and_case_insensitive_hash() -> None:
    srs = Srs(b"k" * 64, clock=lambda: 1_800_000_000.0)
    address = srs.forward("Bob.Smith@remote.test", "example.com")
    local, _, domain = address.rpartition("@")
    assert domain == "example.com" and local.startswith("SRS0=")
    assert "+" not in local  # our subaddress delimiter never appears
    assert srs.reverse(local) == "Bob.Smith@remote.test"
    assert srs.reverse(local.lower()) == "bob.smith@remote.test"


def test_no_rewrite_for_null_or_own_domain() -> None:
    srs = Srs(b"k" * 64)
    assert srs.forward("", "example.com") == ""
    assert srs.forward("a@example.com", "example.com") == "a@example.com"


def test_forged_malformed_and_expired_are_refused() -> None:
    now = [1_800_000_000.0]
    srs = Srs(b"k" * 64, clock=lambda: now[0])
    local = srs.forward("bob@remote.test", "example.com").rpartition("@")[0]
    other = Srs(b"o" * 64, clock=lambda: now[0])
    with pytest.raises(SrsError, match="signature"):
        other.reverse(local)
    for bad in ("SRS0=", "SRS0=a=b", "SRS1=x", "nothing"):
        with pytest.raises(SrsError):
            srs.reverse(bad)
    now[0] += MAX_AGE_DAYS * DAY
    assert srs.reverse(local) == "bob@remote.test"
    now[0] += 2 * DAY
    with pytest.raises(SrsError, match="expired"):
        srs.reverse(local)


def test_srs1_for_mail_forwarded_twice() -> None:
    first = Srs(b"a" * 64)
    second = Srs(b"b" * 64)
    hop1 = first.forward("bob@remote.test", "one.example")
    hop2 = second.forward(hop1, "two.example")
    assert hop2.startswith("SRS1=") and hop2.endswith("@two.example")
    back = second.reverse(hop2.rpartition("@")[0])
    assert back == hop1
    assert first.reverse(back.rpartition("@")[0]) == "bob@remote.test"


def test_key_is_made_once_and_private(tmp_path: Path) -> None:
    a = Srs.stored(tmp_path)
    b = Srs.stored(tmp_path)
    assert a.key == b.key
    path = tmp_path / "secrets" / "srs.secret"
    assert os.stat(path).st_mode & 0o777 == 0o600
