"""swaks (Debian `swaks`) end to end: STARTTLS + AUTH on submission, implicit TLS, LMTP, MX."""

from __future__ import annotations

import subprocess

import pytest

from tests.mailenv import DOMAIN, PASSWORD, SWAKS, MailEnv, in_thread

pytestmark = pytest.mark.skipif(SWAKS is None, reason="swaks is not installed "
                                "(apt-get install swaks; .ci/run installs it in CI)")
BOB = f"bob@{DOMAIN}"


def swaks(env: MailEnv, listener: str, *args: str) -> subprocess.CompletedProcess[str]:
    host, port = env.addr(listener)
    assert SWAKS is not None
    return subprocess.run([SWAKS, "--server", host, "--port", str(port), "--timeout", "60",
                           "--header", "Subject: swaks test", *args],
                          capture_output=True, text=True, timeout=120)


async def test_submission_starttls_auth(env: MailEnv) -> None:
    done = await in_thread(swaks, env, "submission", "--from", BOB, "--to", f"alice@{DOMAIN}",
                           "--tls", "--auth", "PLAIN", "--auth-user", BOB,
                           "--auth-password", PASSWORD)
    assert done.returncode == 0, done.stdout + done.stderr
    [stored] = env.inbox("alice")
    assert b"Subject: swaks test" in stored and b"with ESMTPSA" in stored


async def test_submissions_implicit_tls_auth_login(env: MailEnv) -> None:
    done = await in_thread(swaks, env, "submissions", "--from", BOB, "--to", f"alice@{DOMAIN}",
                           "--tlsc", "--auth", "LOGIN", "--auth-user", BOB,
                           "--auth-password", PASSWORD)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(env.inbox("alice")) == 1


async def test_wrong_password(env: MailEnv) -> None:
    done = await in_thread(swaks, env, "submission", "--from", BOB, "--to", f"alice@{DOMAIN}",
                           "--tls", "--auth", "PLAIN", "--auth-user", BOB,
                           "--auth-password", "wrong")
    assert done.returncode == 28, done.stdout  # AUTH failed
    assert "535 5.7.8" in done.stdout


async def test_auth_refused_without_tls(env: MailEnv) -> None:
    done = await in_thread(swaks, env, "submission", "--from", BOB, "--to", f"alice@{DOMAIN}",
                           "--auth", "PLAIN", "--auth-user", BOB, "--auth-password", PASSWORD)
    assert done.returncode == 28, done.stdout  # AUTH not offered
    assert env.inbox("alice") == []


async def test_mx_and_lmtp(env: MailEnv) -> None:
    mx = await in_thread(swaks, env, "smtp", "--from", "a@example.net", "--to", BOB, "--tls")
    assert mx.returncode == 0, mx.stdout + mx.stderr
    relay = await in_thread(swaks, env, "smtp", "--from", "a@example.net",
                            "--to", "x@elsewhere.example")
    assert relay.returncode == 24, relay.stdout  # no RCPT accepted
    assert "554 5.7.1" in relay.stdout
    lmtp = await in_thread(swaks, env, "lmtp", "--protocol", "LMTP", "--from", "a@example.net",
                           "--to", f"{BOB},alice@{DOMAIN}")
    assert lmtp.returncode == 0, lmtp.stdout + lmtp.stderr
    assert len(env.inbox("bob")) == 2 and len(env.inbox("alice")) == 1
