"""Submission (587 STARTTLS, 465 implicit TLS) with smtplib: TLS before AUTH, lockout,
sender policy, the submission switch, the daily limit, local and remote recipients."""

from __future__ import annotations

import base64
import smtplib

import pytest

from tests.mailenv import (
    DOMAIN,
    PASSWORD,
    MailEnv,
    body_of,
    in_thread,
    insecure_context,
    message,
)
from tests.smtp.conftest import MakeEnv

BOB = f"bob@{DOMAIN}"
ALICE = f"alice@{DOMAIN}"


def mail_from(sender: str, subject: str = "sent", to: str = ALICE) -> bytes:
    return message(subject, sender=sender, to=to)


async def test_send_to_local_and_remote_recipients(env: MailEnv) -> None:
    raw = mail_from(BOB)

    def go() -> dict[str, object]:
        with env.submission(BOB) as client:
            return client.sendmail(BOB, [ALICE, "carol@remote.example"], raw)

    assert await in_thread(go) == {}
    [stored] = env.inbox("alice")
    assert body_of(stored) == raw
    assert b"with ESMTPSA (TLSv1." in stored
    [queued] = await env.wait_queued(1)
    assert queued.mail_from == BOB
    assert [(leg.domain, [r.address for r in leg.recipients]) for leg in queued.legs] == \
        [("remote.example", ["carol@remote.example"])]


async def test_implicit_tls_and_auth_login(env: MailEnv) -> None:
    raw = mail_from(BOB)

    def go() -> dict[str, object]:
        with env.smtp("submissions") as client:
            client.ehlo()
            assert "auth" in client.esmtp_features
            client.user, client.password = BOB, PASSWORD
            code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
            assert code == 235
            return client.sendmail(BOB, [ALICE], raw)

    assert await in_thread(go) == {}
    assert [body_of(m) for m in env.inbox("alice")] == [raw]


async def test_no_auth_before_tls(env: MailEnv) -> None:
    def go() -> tuple[dict[str, str], tuple[int, bytes], tuple[int, bytes]]:
        with env.smtp("submission") as client:
            client.ehlo()
            features = dict(client.esmtp_features)
            plain = base64.b64encode(f"\0{BOB}\0{PASSWORD}".encode()).decode()
            auth = client.docmd("AUTH", f"PLAIN {plain}")
            mail = client.docmd("MAIL", f"FROM:<{BOB}>")
            return features, auth, mail

    features, auth, mail = await in_thread(go)
    assert "auth" not in features and "starttls" in features
    assert auth[0] == 538 and auth[1].startswith(b"5.7.11 ")
    assert mail[0] == 530 and mail[1].startswith(b"5.7.0 ")


async def test_auth_without_tls_from_trusted_networks_when_configured(make_env: MakeEnv) -> None:
    env = await make_env(smtp={"auth_without_tls_trusted": True})

    def go() -> dict[str, object]:
        with env.smtp("submission") as client:
            client.login(BOB, PASSWORD)
            return client.sendmail(BOB, [ALICE], mail_from(BOB))

    assert await in_thread(go) == {}


async def test_wrong_password_until_lockout(make_env: MakeEnv) -> None:
    env = await make_env(security={"trusted_networks": [], "lockout_attempts": 3})

    def attempt(password: str) -> tuple[int, bytes]:
        with env.smtp("submission") as client:
            client.starttls(context=insecure_context())
            client.ehlo()
            plain = base64.b64encode(f"\0{BOB}\0{password}".encode()).decode()
            return client.docmd("AUTH", f"PLAIN {plain}")

    replies = [await in_thread(attempt, "wrong") for _ in range(3)]
    assert all(r[0] == 535 and r[1].startswith(b"5.7.8 ") for r in replies)
    locked = await in_thread(attempt, PASSWORD)  # even the right password, now
    assert locked[0] == 454 and locked[1].startswith(b"4.7.0 ")
    assert env.core.lockout.is_locked("127.0.0.1")


async def test_sender_not_allowed(env: MailEnv) -> None:
    def go() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        with env.submission(BOB) as client:
            envelope = client.mail(ALICE)  # someone else's address
            client.rset()
            client.mail(BOB)
            client.rcpt(ALICE)
            header = client.data(mail_from(ALICE))  # envelope fine, From: forged
            return envelope, header

    envelope, header = await in_thread(go)
    assert envelope[0] == 553 and envelope[1].startswith(b"5.7.1 ")
    assert header[0] == 550 and header[1].startswith(b"5.7.1 ")
    assert env.inbox("alice") == []


async def test_sender_whitelist(env: MailEnv) -> None:
    env.core.accounts.update(DOMAIN, "bob", sender_whitelist=["office@example.com",
                                                              "partner.example"])

    def go() -> list[dict[str, object]]:
        with env.submission(BOB) as client:
            return [client.sendmail(sender, [ALICE], mail_from(sender))
                    for sender in ("office@example.com", "anyone@partner.example")]

    assert await in_thread(go) == [{}, {}]
    assert len(env.inbox("alice")) == 2


async def test_submission_disabled(env: MailEnv) -> None:
    env.core.accounts.update(DOMAIN, "bob", submission_enabled=False)

    def go() -> tuple[int, bytes]:
        with env.submission(BOB) as client:  # login still works (IMAP needs it)
            return client.mail(BOB)

    code, text = await in_thread(go)
    assert code == 550 and text.startswith(b"5.7.1 ")


async def test_daily_recipient_limit(env: MailEnv) -> None:
    env.core.accounts.update(DOMAIN, "bob", recipients_per_day=3)

    def go() -> tuple[list[tuple[int, bytes]], tuple[int, bytes]]:
        with env.submission(BOB) as client:
            client.sendmail(BOB, [ALICE, "x@remote.example"], mail_from(BOB))
            client.mail(BOB)
            replies = [client.rcpt(r) for r in ("y@remote.example", "z@remote.example")]
            client.rset()
            return replies, client.mail(BOB)

    replies, mail = await in_thread(go)
    assert replies[0][0] == 250
    assert replies[1][0] == 450 and replies[1][1].startswith(b"4.7.1 ")
    assert mail[0] == 250


async def test_unknown_local_recipient(env: MailEnv) -> None:
    def go() -> None:
        with env.submission(BOB) as client:
            client.sendmail(BOB, [f"nobody@{DOMAIN}"], mail_from(BOB))

    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        await in_thread(go)
    assert info.value.recipients[f"nobody@{DOMAIN}"][0] == 550


async def test_mx_does_not_accept_auth(env: MailEnv) -> None:
    def go() -> tuple[int, bytes]:
        with env.smtp("smtp") as client:
            client.starttls(context=insecure_context())
            client.ehlo()
            plain = base64.b64encode(f"\0{BOB}\0{PASSWORD}".encode()).decode()
            return client.docmd("AUTH", f"PLAIN {plain}")

    code, _ = await in_thread(go)
    assert code in (503, 504)
