"""Remote delivery end to end: rmail routes remote.test to a local aiosmtpd sink."""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
import re
from pathlib import Path

import dkim

from rmail.queue.dkim import generate_key
from rmail.queue.spool import (
    DELIVERED,
    Leg,
    QueuedMessage,
    RecipientState,
    Spool,
    new_queue_id,
)
from rmail.store.layout import Layout
from tests.mailenv import DOMAIN, MailEnv, body_of, in_thread, message
from tests.queue.conftest import MakeEnv, MakeSink, free_port

BOB = f"bob@{DOMAIN}"


async def submit(env: MailEnv, rcpts: list[str], raw: bytes, sender: str = BOB) -> None:
    def go() -> None:
        with env.submission(sender) as client:
            assert client.sendmail(sender, rcpts, raw) == {}

    await in_thread(go)


async def wait_empty(env: MailEnv, timeout: float = 60.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if not env.core.queue.messages() and not env.core.queue.spool.ids():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"queue not empty: {env.core.queue.messages()}")


async def test_delivered_with_starttls_and_dkim(make_sink: MakeSink, make_env: MakeEnv) -> None:
    sink = await make_sink(tls=True)
    env = await make_env(sink.port)
    _, record = await in_thread(
        functools.partial(generate_key, env.config.mail_root, DOMAIN, selector="sel1", bits=1024))
    raw = message("to the world", sender=BOB, to="carol@remote.test")
    await submit(env, ["carol@remote.test", "dave@remote.test", "alice@example.com"], raw)
    [got] = await sink.wait(1)
    await wait_empty(env)
    assert got.mail_from == BOB
    assert sorted(got.rcpt_tos) == ["carol@remote.test", "dave@remote.test"]
    assert got.tls  # opportunistic STARTTLS was used
    assert got.data.startswith(b"DKIM-Signature: ")
    assert body_of(got.data) == raw
    txt = "".join(re.findall(r'"([^"]*)"', record)).encode()
    assert dkim.verify(got.data, dnsfunc=lambda name, timeout=5: txt)
    assert [body_of(m) for m in env.inbox("alice")] == [raw]  # local copy, unsigned
    assert b"DKIM-Signature" not in env.inbox("alice")[0]


async def test_temporary_failure_is_retried(make_sink: MakeSink, make_env: MakeEnv) -> None:
    sink = await make_sink(tls=False)
    sink.handler.rcpt_replies["carol@remote.test"] = ["451 4.3.0 Try again later"] * 2
    env = await make_env(sink.port)
    raw = message("retry", sender=BOB, to="carol@remote.test")
    await submit(env, ["carol@remote.test"], raw)
    [got] = await sink.wait(1)
    assert got.rcpt_tos == ["carol@remote.test"] and body_of(got.data) == raw
    assert not got.tls
    await wait_empty(env)
    assert env.inbox("bob") == []  # no bounce


async def test_permanent_failure_bounces_to_the_sender(make_sink: MakeSink,
                                                       make_env: MakeEnv) -> None:
    sink = await make_sink()
    sink.handler.rcpt_replies["nobody@remote.test"] = ["550 5.1.1 No such user"]
    env = await make_env(sink.port)
    raw = message("bounce me", sender=BOB, to="nobody@remote.test")
    await submit(env, ["nobody@remote.test", "carol@remote.test"], raw)
    [dsn_raw] = await env.wait_inbox("bob", 1)
    await wait_empty(env)
    assert [r.rcpt_tos for r in sink.received] == [["carol@remote.test"]]
    assert dsn_raw.startswith(b"Return-Path: <>\r\nDelivered-To: bob@example.com\r\n")
    dsn = email.message_from_bytes(dsn_raw, policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    assert dsn["Auto-Submitted"] == "auto-replied"
    human, status, headers = dsn.get_payload()
    assert "nobody@remote.test" in human.get_content()
    assert status.get_content_type() == "message/delivery-status"
    report = status.as_bytes().decode()
    assert "Reporting-MTA: dns; mx.example.com" in report
    assert "Final-Recipient: rfc822; nobody@remote.test" in report
    assert "Action: failed" in report and "Status: 5.1.1" in report
    assert "Remote-MTA: dns; 127.0.0.1" in report
    assert "Diagnostic-Code: smtp; 550 5.1.1 No such user" in report
    assert "carol@remote.test" not in report
    assert headers.get_content_type() == "text/rfc822-headers"
    assert b"Subject: bounce me" in headers.as_bytes()


async def test_no_bounce_for_a_bounce(make_sink: MakeSink, make_env: MakeEnv) -> None:
    sink = await make_sink()
    sink.handler.rcpt_replies["gone@remote.test"] = ["550 5.1.1 No such user"]
    env = await make_env(sink.port)
    await env.core.queue.enqueue(message("a bounce"), mail_from="", recipients=["gone@remote.test"])
    await wait_empty(env)
    assert sink.handler.attempts == 0
    assert env.inbox("bob") == env.inbox("alice") == []


async def test_expiry_bounces_with_4_4_7(make_env: MakeEnv) -> None:
    env = await make_env(free_port(), queue={"lifetime": 2})  # nothing listens there
    raw = message("never arrives", sender=BOB, to="carol@remote.test")
    await submit(env, ["carol@remote.test"], raw)
    [dsn_raw] = await env.wait_inbox("bob", 1)
    await wait_empty(env)
    report = dsn_raw.decode()
    assert "Status: 4.4.7" in report and "Action: failed" in report
    assert "Delivery time expired" in report


async def test_queue_survives_a_restart(make_sink: MakeSink, make_env: MakeEnv) -> None:
    port = free_port()
    first = await make_env(port)
    raw = message("patience", sender=BOB, to="carol@remote.test")
    await submit(first, ["carol@remote.test"], raw)
    [queued] = await first.wait_queued(1)
    for _ in range(400):  # the first attempt fails: nothing listens yet
        if queued.legs[0].attempts:
            break
        await asyncio.sleep(0.05)
    assert queued.legs[0].attempts >= 1
    await first.stop()

    sink = await make_sink(port=port)
    second = await make_env(port, mail_root=first.config.mail_root)
    [got] = await sink.wait(1)
    assert body_of(got.data) == raw
    await wait_empty(second)
    assert second.inbox("bob") == []


async def test_finished_leftover_is_removed_at_start(make_env: MakeEnv, tmp_path: Path) -> None:
    """A message whose recipients were all done when the server died is cleaned up."""
    root = tmp_path / "leftover"
    spool = Spool(Layout(root))
    done = QueuedMessage(new_queue_id(), BOB, 1.0, 4e9, 5,
                         [Leg("remote.test", [RecipientState("x@remote.test", DELIVERED)])])
    spool.create(b"hello", done)
    env = await make_env(free_port(), mail_root=root)
    await wait_empty(env)
    assert not Layout(root).queue_message(done.id).exists()
