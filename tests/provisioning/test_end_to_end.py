"""Provisioning end to end on a running server: the seed's document through `rmail provision`,
IMAP logins with the provisioned crypt hashes, the alias over MX, and the REST API's
submission switch and spoofing whitelist through swaks."""

from __future__ import annotations

import imaplib
import json
import smtplib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rmail.auth.passwords import forget_cached
from rmail.cli import main as rmail_main
from rmail.provisioning.keys import generate_key
from rmail.tls import client_context_trusting
from tests.mailenv import (
    SWAKS,
    MailEnv,
    in_thread,
    insecure_context,
    mail_config,
    message,
    start_env,
)
from tests.provisioning.conftest import (
    ALICE_HASH,
    ALICE_PASSWORD,
    BOB_SEED_PASSWORD,
    seed_with_known_alice,
)

KEY, KEY_HASH = generate_key()
needs_swaks = pytest.mark.skipif(SWAKS is None, reason="swaks is not installed "
                                 "(apt-get install swaks; .ci/run installs it in CI)")


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[MailEnv]:
    config = mail_config(tmp_path / "mailstore", domains=[],
                         listeners={"imap": {"enabled": True, "port": 0},
                                    "http": {"enabled": True, "port": 0, "tls": True}},
                         provisioning={"api_keys": [KEY_HASH]})
    env = await start_env(config)
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    (tmp_path / "doc.json").write_bytes(seed_with_known_alice())
    yield env
    await env.stop()


def cli(tmp_path: Path, *args: str) -> int:
    return rmail_main(["--config", str(tmp_path / "config.json"), *args])


def imap_login(env: MailEnv, user: str, password: str) -> bool:
    host, port = env.addr("imap")
    client = imaplib.IMAP4(host, port, timeout=30)
    try:
        client.starttls(ssl_context=insecure_context())
        client.login(user, password)
        client.select("INBOX")
        return True
    except imaplib.IMAP4.error:
        return False
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def mx_send(env: MailEnv, to: str) -> dict[str, tuple[int, bytes]]:
    with env.smtp("smtp") as client:
        return client.sendmail("someone@example.net", [to], message("via mx", to=to))


async def rest(env: MailEnv, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    assert env.server.cert_path is not None
    async with aiohttp.ClientSession() as session, session.request(
            method, env.server.url().rstrip("/") + path, ssl=client_context_trusting(
                env.server.cert_path), headers={"Authorization": f"Bearer {KEY}"},
            **kwargs) as response:
        body = await response.read()
        return response.status, json.loads(body) if body else None


def swaks(env: MailEnv, listener: str, *args: str) -> subprocess.CompletedProcess[str]:
    host, port = env.addr(listener)
    assert SWAKS is not None
    return subprocess.run([SWAKS, "--server", host, "--port", str(port), "--timeout", "60",
                           "--header", "Subject: provisioning", *args],
                          capture_output=True, text=True, timeout=120)


def submit(env: MailEnv, user: str, password: str, sender: str, to: str
           ) -> subprocess.CompletedProcess[str]:
    return swaks(env, "submission", "--from", sender, "--to", to, "--tls", "--auth", "PLAIN",
                 "--auth-user", user, "--auth-password", password)


async def test_seed_document_logins_and_alias(env: MailEnv, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # (a verification cached by an earlier test in this process would skip the upgrade)
    for stored in (ALICE_HASH, "$1$0MhHZVnG$d6rHD1KFLNOJ9EFdMKrB91"):
        forget_cached(stored)
    assert await in_thread(cli, tmp_path, "provision", str(tmp_path / "doc.json")) == 0
    assert capsys.readouterr().out.splitlines()[-1] == \
        "created 4, updated 0, removed 0, unchanged 0"
    assert await in_thread(imap_login, env, "alice@example.com", ALICE_PASSWORD)
    assert await in_thread(imap_login, env, "bob@example.com", BOB_SEED_PASSWORD)
    assert not await in_thread(imap_login, env, "bob@example.com", "wrong")
    # the logins upgraded both hashes to argon2id; applying again changes nothing
    assert env.core.accounts.get("example.com", "bob").password_hash.startswith("$argon2id$")
    assert await in_thread(cli, tmp_path, "provision", str(tmp_path / "doc.json"),
                           "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 3)
    assert await in_thread(imap_login, env, "bob@example.com", BOB_SEED_PASSWORD)
    # office@ delivers to both mailboxes
    refused = await in_thread(mx_send, env, "office@example.com")
    assert refused == {}
    assert len(await env.wait_inbox("alice", 1)) == 1
    assert len(await env.wait_inbox("bob", 1)) == 1


async def test_rest_delete_restore(env: MailEnv, tmp_path: Path) -> None:
    assert await in_thread(cli, tmp_path, "provision", str(tmp_path / "doc.json")) == 0
    await in_thread(mx_send, env, "alice@example.com")
    assert len(await env.wait_inbox("alice", 1)) == 1
    status, _ = await rest(env, "DELETE", "/mail/account/alice@example.com/")
    assert status == 204
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await in_thread(mx_send, env, "alice@example.com")
    code, text = refused.value.recipients["alice@example.com"]
    assert code == 550 and text.startswith(b"5.1.1")
    assert not await in_thread(imap_login, env, "alice@example.com", ALICE_PASSWORD)
    assert (await rest(env, "GET", "/mail/account/alice@example.com/"))[0] == 404
    assert await in_thread(cli, tmp_path, "user", "restore", "alice@example.com") == 0
    assert await in_thread(imap_login, env, "alice@example.com", ALICE_PASSWORD)
    assert len(env.inbox("alice")) == 1  # the mail came back with the account


@needs_swaks
async def test_submission_switch_and_spoofing_whitelist(env: MailEnv) -> None:
    status, _ = await rest(env, "POST", "/mail/account/", json={
        "name": "alice", "domain": "example.com", "password": ALICE_PASSWORD})
    assert status == 201
    status, _ = await rest(env, "POST", "/mail/account/", data={
        "name": "bob", "domain": "example.com", "password": "bob-pw"})
    assert status == 201
    alice = "alice@example.com"
    ok = await in_thread(submit, env, alice, ALICE_PASSWORD, alice, "bob@example.com")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # submission disabled: 550 5.7.1 on submission, receiving goes on
    status, model = await rest(env, "POST", "/mail/account/alice@example.com/disable_submission/")
    assert status == 200 and model["submission_disabled"] is True
    refused = await in_thread(submit, env, alice, ALICE_PASSWORD, alice, "bob@example.com")
    assert refused.returncode != 0 and "550 5.7.1" in refused.stdout, refused.stdout
    received = await in_thread(swaks, env, "smtp", "--from", "x@example.net", "--to", alice,
                               "--tls")
    assert received.returncode == 0, received.stdout
    status, _ = await rest(env, "POST", "/mail/account/alice@example.com/enable_submission",
                           data={})
    assert status == 200
    # the seed's example: 'office@example.com,skylime.net'
    status, model = await rest(env, "POST", "/mail/account/alice@example.com/"
                               "set_spoofing_whitelist/",
                               data={"spoofing_whitelist": "office@example.com,skylime.net"})
    assert status == 200
    expected = {"alice@example.com": True, "office@example.com": True,
                "someone@skylime.net": True, "bob@example.com": False,
                "anyone@frubar.net": False}
    for sender, allowed in expected.items():
        done = await in_thread(submit, env, alice, ALICE_PASSWORD, sender, "bob@example.com")
        assert (done.returncode == 0) is allowed, (sender, done.stdout)
        if not allowed:
            assert "5.7.1" in done.stdout
    for whitelist, sender in (("@frubar.net", "anyone@frubar.net"), ("*", "bob@example.com"),
                              ("bob@example.com", "bob@example.com")):
        await rest(env, "POST", "/mail/account/alice@example.com/set_spoofing_whitelist/",
                   json={"spoofing_whitelist": whitelist})
        done = await in_thread(submit, env, alice, ALICE_PASSWORD, sender, "bob@example.com")
        assert done.returncode == 0, (whitelist, done.stdout)
    await rest(env, "POST", "/mail/account/alice@example.com/set_spoofing_whitelist/",
               json={"spoofing_whitelist": ""})
    done = await in_thread(submit, env, alice, ALICE_PASSWORD, "bob@example.com",
                           "bob@example.com")
    assert done.returncode != 0
