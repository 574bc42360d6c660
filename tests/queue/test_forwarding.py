"""Forwarding through the real outbound queue to an SMTP sink: SRS on the way out, a bounce
to the SRS address reaching the original sender, and the per-24-hour forward limit."""

from __future__ import annotations

import smtplib

import pytest

from rmail.mail.filters import parse_filter
from tests.mailenv import DOMAIN, MailEnv, body_of, in_thread, message
from tests.queue.conftest import MakeEnv, MakeSink

BOB = f"bob@{DOMAIN}"
DAVE = "dave@remote.test"  # the original sender, out there
CAROL = "carol@remote.test"  # where bob forwards to


def mx_send(env: MailEnv, sender: str, rcpts: list[str], raw: bytes) -> dict[str, object]:
    with env.smtp("smtp") as client:
        return client.sendmail(sender, rcpts, raw)


async def test_srs_round_trip(make_sink: MakeSink, make_env: MakeEnv) -> None:
    sink = await make_sink(tls=False)
    env = await make_env(sink.port)
    env.core.delivery.rules.store.set_forwarding(DOMAIN, "bob", forward=(CAROL,), keep=True)
    raw = message("forward me", sender=DAVE, to=BOB)
    assert await in_thread(mx_send, env, DAVE, [BOB], raw) == {}

    [forwarded] = await sink.wait(1)
    assert forwarded.rcpt_tos == [CAROL]
    srs = forwarded.mail_from
    assert srs.startswith("SRS0=") and srs.endswith(f"@{DOMAIN}"), srs
    assert "=remote.test=dave@" in srs
    assert body_of(forwarded.data).endswith(raw)
    assert [body_of(m) for m in env.inbox("bob")] == [raw]  # forwardKeep

    # carol's server bounces: the DSN goes to the SRS address and on to dave.
    bounce = message("Undelivered Mail Returned to Sender", sender="MAILER-DAEMON@remote.test",
                     to=srs)
    assert await in_thread(mx_send, env, "", [srs], bounce) == {}
    received = await sink.wait(2)
    assert len(received) == 2
    back = received[1]
    assert back.rcpt_tos == [DAVE] and back.mail_from in ("", "<>")  # the null sender
    assert body_of(back.data) == bounce

    # A forged or mangled SRS address is refused at RCPT.
    forged = "SRS0=AAAA=" + srs.split("=", 2)[2]
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await in_thread(mx_send, env, "", [forged], bounce)
    code, text = refused.value.recipients[forged]
    assert code == 550 and b"SRS" in text


async def test_own_domain_sender_is_not_rewritten(make_sink: MakeSink, make_env: MakeEnv
                                                  ) -> None:
    """alice writes to bob, who forwards to carol: SPF of our own domain passes as it is."""
    sink = await make_sink(tls=False)
    env = await make_env(sink.port)
    env.core.delivery.rules.store.set_forwarding(DOMAIN, "bob", forward=(CAROL,), keep=False)
    alice = f"alice@{DOMAIN}"
    raw = message("from alice", sender=alice, to=BOB)
    assert await in_thread(mx_send, env, alice, [BOB], raw) == {}
    [forwarded] = await sink.wait(1)
    assert forwarded.mail_from == alice  # our own domain: no rewriting needed
    assert env.inbox("bob") == []  # forwardKeep false


async def test_filter_targets_go_out_with_srs(make_sink: MakeSink, make_env: MakeEnv) -> None:
    sink = await make_sink(tls=False)
    env = await make_env(sink.port)
    env.core.delivery.rules.store.add_filter(DOMAIN, "bob", lambda fid: parse_filter(
        {"query": {"subject": "pass on"}, "action": {"targets": [CAROL], "delete": True}},
        filter_id=fid))
    raw = message("please pass on", sender=DAVE, to=BOB)
    assert await in_thread(mx_send, env, DAVE, [BOB], raw) == {}
    [forwarded] = await sink.wait(1)
    assert forwarded.rcpt_tos == [CAROL] and forwarded.mail_from.startswith("SRS0=")
    assert env.inbox("bob") == []  # the filter deleted bob's copy after forwarding


async def test_forward_limit_per_24_hours(make_sink: MakeSink, make_env: MakeEnv) -> None:
    sink = await make_sink(tls=False)
    env = await make_env(sink.port)
    env.core.delivery.rules.store.set_forwarding(DOMAIN, "bob", forward=(CAROL,), keep=False,
                                                 forwards=2)
    raws = [message(f"number {i}", sender=DAVE, to=BOB) for i in range(4)]
    for raw in raws:
        assert await in_thread(mx_send, env, DAVE, [BOB], raw) == {}
    received = await sink.wait(2)
    assert [body_of(r.data).split(b"Subject: ")[1][:8] for r in received] == [
        b"number 0", b"number 1"]
    # Over the limit: not forwarded, and kept although forwardKeep is false (nothing lost).
    assert [body_of(m) for m in env.inbox("bob")] == raws[2:]


async def test_forward_limit_default_comes_from_the_config(make_sink: MakeSink,
                                                           make_env: MakeEnv) -> None:
    """`forwards_per_day` limits a user on whom no admin set `forwards`; an admin's value
    still wins over it."""
    sink = await make_sink(tls=False)
    env = await make_env(sink.port, forwards_per_day=1)
    env.core.delivery.rules.store.set_forwarding(DOMAIN, "bob", forward=(CAROL,), keep=False)
    raws = [message(f"number {i}", sender=DAVE, to=BOB) for i in range(3)]
    for raw in raws:
        assert await in_thread(mx_send, env, DAVE, [BOB], raw) == {}
    [received] = await sink.wait(1)
    assert body_of(received.data).split(b"Subject: ")[1][:8] == b"number 0"
    assert [body_of(m) for m in env.inbox("bob")] == raws[1:]  # kept: nothing lost
    env.core.delivery.rules.store.set_forwarding(DOMAIN, "bob", forwards=3)
    assert await in_thread(mx_send, env, DAVE, [BOB], raws[0]) == {}
    assert len(await sink.wait(2)) == 2
