"""Authenticator: the one place logins are decided, with lockout, hash upgrades, and the
manual's bootstrap command."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from passlib.hash import bcrypt, md5_crypt, sha512_crypt

import rmail.auth as auth
from rmail.auth import Authenticator, AuthError, Lockout, create_user, hash_password, passwords
from rmail.config import Config
from rmail.services import build_services
from rmail.store.accounts import Accounts
from rmail.store.errors import InvalidValue
from rmail.store.mailbox import MailStore

REPO = Path(__file__).resolve().parents[2]
D = "example.com"
IP = "203.0.113.5"


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, bytes], float]:
    cache: dict[tuple[str, bytes], float] = {}
    monkeypatch.setattr(passwords, "_cache", cache)
    return cache


@pytest.fixture(scope="module")
def alice_hash() -> str:
    return hash_password("alice-pw")


@pytest.fixture
def accounts(tmp_path: Path, alice_hash: str) -> Accounts:
    accounts = Accounts(tmp_path / "mailstore")
    accounts.create(D, "alice", alice_hash, addresses=["al@example.com"])
    accounts.create("other.example", "alice", alice_hash)  # same name, another domain
    return accounts


@pytest.fixture
def authn(accounts: Accounts) -> Authenticator:
    return Authenticator(accounts, Lockout(attempts=3, seconds=60), default_domain=D)


def refused(authn: Authenticator, login: str, password: object, reason: str,
            **kwargs: object) -> None:
    with pytest.raises(AuthError) as info:
        authn.authenticate_sync(login, password, **kwargs)  # type: ignore[arg-type]
    assert info.value.reason == reason


@pytest.mark.parametrize(("login", "domain"), [
    ("alice@example.com", D), ("ALICE@Example.COM", D), ("al@example.com", D),
    ("alice", D), ("alice@other.example", "other.example")])
def test_logins(authn: Authenticator, login: str, domain: str) -> None:
    principal = authn.authenticate_sync(login, "alice-pw", ip=IP)
    assert (principal.username, principal.domain) == ("alice", domain)
    assert principal.address == f"alice@{domain}"
    assert principal.admin is False


def test_bare_username_with_explicit_domain(authn: Authenticator) -> None:
    assert authn.authenticate_sync("alice", "alice-pw", domain="other.example").domain == \
        "other.example"


def test_bare_username_without_default_takes_first_domain(accounts: Accounts) -> None:
    authn = Authenticator(accounts)
    assert authn.authenticate_sync("alice", "alice-pw").domain == D  # sorted: example.com


def test_wrong_password_and_unknown_user(authn: Authenticator) -> None:
    refused(authn, "alice@example.com", "wrong", "invalid")
    refused(authn, "nobody@example.com", "alice-pw", "invalid")
    refused(authn, "alice@elsewhere.org", "alice-pw", "invalid")
    refused(authn, "not an address@", "alice-pw", "invalid")
    refused(authn, "Bad Name", "alice-pw", "invalid")
    refused(authn, "alice@example.com", None, "invalid")
    refused(authn, None, "alice-pw", "invalid")


def test_unknown_user_still_costs_a_verify(authn: Authenticator,
                                           empty_cache: dict[tuple[str, bytes], float]) -> None:
    """The dummy hash is really verified (its success lands in the cache), so response times
    don't tell which users exist."""
    refused(authn, "nobody@example.com", "rmail-no-such-user", "invalid")
    assert [k[0] for k in empty_cache] == [auth._dummy_hash()]


def test_disabled_account(authn: Authenticator, accounts: Accounts) -> None:
    accounts.update(D, "alice", enabled=False)
    refused(authn, "alice@example.com", "alice-pw", "disabled", ip=IP)
    refused(authn, "alice@example.com", "wrong", "invalid", ip=IP)
    accounts.update(D, "alice", enabled=True)
    assert authn.authenticate_sync("alice@example.com", "alice-pw").username == "alice"


def test_lockout_across_users_and_protocol_calls(authn: Authenticator) -> None:
    refused(authn, "alice@example.com", "wrong", "invalid", ip=IP)
    refused(authn, "bob@example.com", "wrong", "invalid", ip=IP)
    refused(authn, "alice@other.example", "wrong", "invalid", ip=IP)
    refused(authn, "alice@example.com", "alice-pw", "locked", ip=IP)  # right password, too late
    refused(authn, "al@example.com", "alice-pw", "locked", ip=IP)
    assert authn.authenticate_sync("alice@example.com", "alice-pw", ip="198.51.100.7")


def test_trusted_network_is_never_locked(authn: Authenticator) -> None:
    for _ in range(authn.lockout.attempts + 1):
        refused(authn, "alice@example.com", "wrong", "invalid", ip="127.0.0.1")
    assert authn.authenticate_sync("alice@example.com", "alice-pw", ip="127.0.0.1")


def test_success_resets_failures(authn: Authenticator) -> None:
    for _ in range(2):
        refused(authn, "alice@example.com", "wrong", "invalid", ip=IP)
    authn.authenticate_sync("alice@example.com", "alice-pw", ip=IP)
    for _ in range(2):
        refused(authn, "alice@example.com", "wrong", "invalid", ip=IP)
    assert authn.authenticate_sync("alice@example.com", "alice-pw", ip=IP)


@pytest.mark.parametrize("make_hash", [
    md5_crypt.hash, sha512_crypt.using(rounds=5000).hash, bcrypt.using(rounds=4).hash],
    ids=["md5-crypt", "sha512-crypt", "bcrypt"])
def test_imported_hash_is_upgraded_on_login_keeping_the_epoch(
        authn: Authenticator, accounts: Accounts, make_hash: object) -> None:
    imported = make_hash("imported-pw")  # type: ignore[operator]
    accounts.create(D, "bob", imported)
    accounts.update(D, "bob", auth_epoch=4)
    principal = authn.authenticate_sync("bob@example.com", "imported-pw", ip=IP)
    stored = accounts.get(D, "bob")
    assert stored.password_hash.startswith("$argon2id$")
    assert stored.auth_epoch == 4  # an upgrade is not a password change: tokens live on
    assert principal.account == stored
    assert authn.authenticate_sync("bob@example.com", "imported-pw").username == "bob"
    refused(authn, "bob@example.com", "other", "invalid")


async def test_authenticate_async_runs_on_the_services_password_pool(
        authn: Authenticator, accounts: Accounts, tmp_config: Config) -> None:
    with pytest.raises(RuntimeError, match="password pool"):  # no Services: no private pool
        await authn.authenticate("alice@example.com", "alice-pw", ip=IP)
    services = build_services(tmp_config, accounts=accounts)
    principal = await services.auth.authenticate("alice@example.com", "alice-pw", ip=IP)
    assert principal.username == "alice"
    with pytest.raises(AuthError):
        await services.auth.authenticate("alice@example.com", "nope", ip=IP)
    assert any(t.name.startswith("rmail-argon2") for t in threading.enumerate())


async def test_create_user(tmp_path: Path) -> None:
    acc = await create_user(tmp_path / "store", "carol", "Example.com", "pw", admin=True,
                            quota_mb=10, display_name="Carol")
    assert (acc.username, acc.domain, acc.admin, acc.quota_mb) == ("carol", D, True, 10)
    assert acc.password_hash.startswith("$argon2id$")
    authn = Authenticator(Accounts(tmp_path / "store"))
    assert authn.authenticate_sync("carol@example.com", "pw").admin
    with pytest.raises(InvalidValue):
        await create_user(tmp_path / "store", "dave", D, "")
    with pytest.raises(InvalidValue):
        await create_user(tmp_path / "store", "dave", D, "\ud800")
    with pytest.raises(InvalidValue):
        await create_user(tmp_path / "store", "dave", D, "pw", quota_mb=0)


def test_manual_bootstrap_command_verbatim(tmp_path: Path) -> None:
    command = ("import asyncio; from rmail import auth; asyncio.run(auth.create_user("
               "'./mailstore', 'admin', 'example.com', 'password', admin=True))")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", command], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    accounts = Accounts(tmp_path / "mailstore")
    principal = Authenticator(accounts).authenticate_sync("admin@example.com", "password")
    assert principal.admin
    folders = MailStore(tmp_path / "mailstore").mailbox(D, "admin").entries()
    assert [f.name for f in folders] == ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]
