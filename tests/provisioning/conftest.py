"""Provisioning fixtures: the seed's example document verbatim, a provisioner on a fresh store,
and crypt hashes made here (the seed's hashes come without their passwords, except bob's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from passlib.hash import md5_crypt, sha512_crypt

from rmail.provisioning.apply import Provisioner
from rmail.store.accounts import Accounts

# Seed 004's example, byte for byte as published.
SEED_DOCUMENT = b"""{
    "example.com": {
        "account": [
            {
                "name": "alice",
                "password": "$1$9hW1N3SC$J6vfo890zc50GC1jYHP211"
            },
            {
                "name": "bob",
                "password": "$1$0MhHZVnG$d6rHD1KFLNOJ9EFdMKrB91"
            }
        ],
        "alias": [
            {
                "name": "office",
                "to": "alice@example.com,bob@example.com"
            }
        ]
    }
}
"""
BOB_SEED_PASSWORD = "secret"  # what the seed's hash for bob verifies (alice's is unknown)
ALICE_PASSWORD = "alice-provisioned"
ALICE_HASH = md5_crypt.using(salt="AbCdEfGh").hash(ALICE_PASSWORD)
ALICE_SHA512 = sha512_crypt.using(rounds=5000, salt="vE8/iTZi9/cC/RCk").hash(ALICE_PASSWORD)


def document(domains: dict[str, dict[str, list[dict[str, str]]]]) -> bytes:
    return json.dumps(domains).encode()


def seed_with_known_alice() -> bytes:
    """The seed's document with alice's hash replaced by one whose password is known."""
    return SEED_DOCUMENT.replace(b"$1$9hW1N3SC$J6vfo890zc50GC1jYHP211", ALICE_HASH.encode())


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    return Accounts(tmp_path / "mailstore")


@pytest.fixture
def provisioner(accounts: Accounts) -> Provisioner:
    return Provisioner(accounts, grace_days=7)
