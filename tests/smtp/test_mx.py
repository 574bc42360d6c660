"""The MX listener with smtplib: delivery, aliases, unknown users, relaying, extensions."""

from __future__ import annotations

import smtplib

import pytest

from tests.mailenv import DOMAIN, MailEnv, body_of, in_thread, insecure_context, message


async def send(env: MailEnv, sender: str, rcpts: list[str], raw: bytes) -> dict[str, object]:
    def go() -> dict[str, object]:
        with env.smtp() as client:
            return client.sendmail(sender, rcpts, raw)  # type: ignore[return-value]

    return await in_thread(go)


async def test_deliver_to_a_user(env: MailEnv) -> None:
    raw = message("first")
    assert await send(env, "someone@example.net", [f"bob@{DOMAIN}"], raw) == {}
    [stored] = env.inbox("bob")
    assert body_of(stored) == raw  # byte for byte behind the trace fields
    head = stored.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"Return-Path: <someone@example.net>\r\n"
                           b"Delivered-To: bob@example.com\r\nReceived: from ")
    assert b"by mx.example.com (rmail) with ESMTP" in head
    assert b"for <bob@example.com>;" in head
    assert env.inbox("alice") == []


async def test_alias_fan_out_and_duplicates_deliver_once(env: MailEnv) -> None:
    env.core.accounts.set_alias(DOMAIN, "team", "bob, alice")
    raw = message("team")
    rcpts = [f"team@{DOMAIN}", f"bob@{DOMAIN}", f"BOB@{DOMAIN}", f"bob+news@{DOMAIN}"]
    assert await send(env, "someone@example.net", rcpts, raw) == {}
    [for_bob] = env.inbox("bob")
    [for_alice] = env.inbox("alice")
    assert body_of(for_bob) == body_of(for_alice) == raw
    assert b"Delivered-To: alice@example.com\r\n" in for_alice
    assert b"\tfor <" not in for_bob  # several recipients: none is named


async def test_regex_alias(env: MailEnv) -> None:
    env.core.accounts.add_alias_rule(DOMAIN, r"sales-.*", "alice")
    raw = message("regex")
    assert await send(env, "someone@example.net", [f"sales-europe@{DOMAIN}"], raw) == {}
    assert [body_of(m) for m in env.inbox("alice")] == [raw]


async def test_unknown_user_is_refused_at_rcpt(env: MailEnv) -> None:
    def go() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        with env.smtp() as client:
            client.ehlo()
            client.mail("someone@example.net")
            return client.rcpt(f"nobody@{DOMAIN}"), client.rcpt(f"bob@{DOMAIN}")

    unknown, known = await in_thread(go)
    assert unknown[0] == 550 and unknown[1].startswith(b"5.1.1 ")
    assert known[0] == 250


async def test_no_open_relay(env: MailEnv) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        await send(env, "someone@example.net", ["victim@elsewhere.example"], message())
    code, text = info.value.recipients["victim@elsewhere.example"]
    assert (code, text[:6]) == (554, b"5.7.1 ")
    assert env.spooled() == []


async def test_ehlo_extensions(env: MailEnv) -> None:
    def go() -> tuple[dict[str, str], dict[str, str]]:
        with env.smtp() as client:
            client.ehlo()
            before = dict(client.esmtp_features)
            client.starttls(context=insecure_context())
            client.ehlo()
            return before, dict(client.esmtp_features)

    before, after = await in_thread(go)
    assert before["size"] == str(env.config.max_message_bytes)
    for ext in ("8bitmime", "smtputf8", "pipelining", "enhancedstatuscodes", "starttls"):
        assert ext in before
    assert "auth" not in before and "auth" not in after  # the MX takes no logins
    assert "starttls" not in after


async def test_delivery_over_starttls_is_recorded(env: MailEnv) -> None:
    raw = message("tls")

    def go() -> None:
        with env.smtp() as client:
            client.starttls(context=insecure_context())
            client.sendmail("someone@example.net", [f"bob@{DOMAIN}"], raw)

    await in_thread(go)
    [stored] = env.inbox("bob")
    assert b"with ESMTPS (TLSv1." in stored


async def test_null_sender_and_smtputf8(env: MailEnv) -> None:
    raw = "From: Jörg <jörg@example.net>\r\nSubject: grüße\r\n\r\nÄpfel\r\n".encode()

    def go() -> None:
        with env.smtp() as client:
            client.ehlo()
            assert client.mail("", ["SMTPUTF8", "BODY=8BITMIME"])[0] == 250
            assert client.rcpt(f"bob@{DOMAIN}")[0] == 250
            assert client.data(raw)[0] == 250

    await in_thread(go)
    [stored] = env.inbox("bob")
    assert stored.startswith(b"Return-Path: <>\r\n")
    assert body_of(stored) == raw


async def test_enhanced_codes_on_aiosmtpd_replies(env: MailEnv) -> None:
    def go() -> list[tuple[int, bytes]]:
        with env.smtp() as client:
            client.ehlo()
            return [client.docmd("RCPT TO:<bob@example.com>"), client.docmd("NOOP"),
                    client.docmd("RSET")]

    replies = await in_thread(go)
    assert replies[0] == (503, b"5.5.1 Error: need MAIL command")
    assert replies[1] == (250, b"2.0.0 OK")
    assert replies[2] == (250, b"2.0.0 OK")
