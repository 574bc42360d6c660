"""Submission AUTH says why it refused (RFC 4954 §6), through smtplib: 534 5.7.9 for the
right master password of a two-factor account, 535 5.7.8 naming the scope for an
application password of another protocol; a wrong password gets the generic 535 5.7.8 on
every account, so a refusal never tells whether an unverified password was right."""

from __future__ import annotations

import smtplib
import ssl
import time

import pyotp
import pytest

from tests.auth.e2e.conftest import DOMAIN, PASSWORDS, Live

GENERIC = b"5.7.8 Authentication credentials invalid"


def refusal(live: Live, user: str, password: str) -> tuple[int, bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(*live.addr("submission"), timeout=30) as client:
        client.starttls(context=context)
        with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
            client.login(user, password)
    return caught.value.smtp_code, caught.value.smtp_error


def test_refusals_say_why_only_after_the_password_is_verified(live: Live) -> None:
    user = f"bob@{DOMAIN}"
    assert refusal(live, user, "wrong password") == (535, GENERIC)
    token = live.token("bob")
    asps = {}
    for scope in ("imap", "smtp"):
        reply = live.api("POST", "/users/me/asps", token=token,
                         json={"description": f"{scope} client", "scopes": [scope]})
        assert reply.status_code == 200, reply.text
        asps[scope] = reply.json()["password"]
    seed = live.api("POST", "/users/me/2fa", token=token).json()["seed"]
    reply = live.api("PUT", "/users/me/2fa", token=token,
                     json={"token": pyotp.TOTP(seed).at(time.time())})
    assert reply.status_code == 200, reply.text

    code, text = refusal(live, user, PASSWORDS["bob"])  # right, but two-factor is on
    assert code == 534 and text.startswith(b"5.7.9 ") and b"application password" in text
    code, text = refusal(live, user, asps["imap"])  # right, for another protocol
    assert code == 535 and text.startswith(b"5.7.8 ") and b"not valid for SMTP" in text
    # (the lockout allows 5 counted failures per address: this test stays at 4)
    for wrong in ("wrong password", PASSWORDS["alice"]):
        assert refusal(live, user, wrong) == (535, GENERIC), wrong
    assert refusal(live, f"nobody@{DOMAIN}", "x") == (535, GENERIC)

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(*live.addr("submission"), timeout=30) as client:
        client.starttls(context=context)
        assert client.login(user, asps["smtp"])[0] == 235
