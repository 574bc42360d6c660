"""Size, quota, recipient count and per-IP connection limits."""

from __future__ import annotations

import asyncio
import socket

from tests.mailenv import DOMAIN, MailEnv, body_of, in_thread, message
from tests.smtp.conftest import MakeEnv


async def test_oversize_message(make_env: MakeEnv) -> None:
    env = await make_env(max_message_bytes=2000)
    big = message("big", body=("y" * 900 + "\r\n") * 4)
    small_raw = message("small")

    def go() -> tuple[tuple[int, bytes], tuple[int, bytes], tuple[int, bytes]]:
        with env.smtp() as client:
            client.ehlo()
            declared = client.mail("someone@example.net", [f"SIZE={len(big)}"])
            client.rset()
            client.mail("someone@example.net")
            client.rcpt(f"bob@{DOMAIN}")
            undeclared = client.data(big)
            client.mail("someone@example.net")  # the session goes on
            client.rcpt(f"bob@{DOMAIN}")
            small = client.data(small_raw)
            return declared, undeclared, small

    declared, undeclared, small = await in_thread(go)
    assert declared[0] == 552
    assert undeclared[0] == 552 and undeclared[1].startswith(b"5.3.4 ")
    assert small[0] == 250
    assert [body_of(m) for m in env.inbox("bob")] == [small_raw]


async def test_quota_full_and_message_larger_than_quota(env: MailEnv) -> None:
    env.core.accounts.update(DOMAIN, "bob", quota_mb=1)
    env.core.accounts.update(DOMAIN, "alice", quota_mb=1)
    filler = message("filler", body=("z" * 998 + "\r\n") * 1060)  # just over 1 MiB
    env.core.mail.mailbox(DOMAIN, "bob").folder("INBOX").append(filler)

    def go() -> list[tuple[int, bytes]]:
        with env.smtp() as client:
            client.ehlo()
            client.mail("someone@example.net")
            full = client.rcpt(f"bob@{DOMAIN}")
            client.rset()
            client.mail("someone@example.net", ["SIZE=2000000"])
            too_big = client.rcpt(f"alice@{DOMAIN}")
            return [full, too_big]

    full, too_big = await in_thread(go)
    assert full[0] == 452 and full[1].startswith(b"4.2.2 ")
    assert too_big[0] == 552 and too_big[1].startswith(b"5.2.2 ")
    assert len(env.inbox("bob")) == 1


async def test_quota_checked_again_at_data(env: MailEnv) -> None:
    """RCPT passes (room left), DATA finds the message does not fit: 452, nothing stored."""
    env.core.accounts.update(DOMAIN, "bob", quota_mb=1)
    raw = message("fits-not", body=("q" * 998 + "\r\n") * 1100)

    def go() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        with env.smtp() as client:
            client.ehlo()
            client.mail("someone@example.net")
            rcpt = client.rcpt(f"bob@{DOMAIN}")
            return rcpt, client.data(raw)

    rcpt, data = await in_thread(go)
    assert rcpt[0] == 250
    assert data[0] == 552 and data[1].startswith(b"5.2.2 ")
    assert env.inbox("bob") == []


async def test_thousand_recipients(env: MailEnv) -> None:
    env.core.accounts.add_alias_rule(DOMAIN, r"list-\d+", "alice")
    rcpts = [f"list-{i}@{DOMAIN}" for i in range(999)] + [f"bob@{DOMAIN}"]
    raw = message("many")

    def go() -> tuple[dict[str, object], tuple[int, bytes]]:
        with env.smtp(timeout=120) as client:
            refused = client.sendmail("someone@example.net", rcpts, raw)
            client.mail("someone@example.net")
            for rcpt in rcpts:
                client.rcpt(rcpt)
            return refused, client.rcpt(f"bob@{DOMAIN}")  # number 1,001

    refused, over = await in_thread(go)
    assert refused == {}
    assert over[0] == 452 and over[1].startswith(b"4.5.3 ")
    assert [body_of(m) for m in env.inbox("alice")] == [raw]  # 999 aliases, one mailbox
    assert [body_of(m) for m in env.inbox("bob")] == [raw]


async def test_connection_limit_per_ip(make_env: MakeEnv) -> None:
    env = await make_env(smtp={"max_connections_per_ip": 2},
                         security={"trusted_networks": []})
    host, port = env.addr("smtp")

    def go() -> list[bytes]:
        socks = [socket.create_connection((host, port), timeout=30) for _ in range(3)]
        try:
            return [s.recv(200) for s in socks]
        finally:
            for s in socks:
                s.close()

    greetings = await in_thread(go)
    assert [g[:4] for g in greetings].count(b"220 ") == 2
    assert any(g.startswith(b"421 4.7.0 ") for g in greetings)

    def again() -> bytes:  # the slots are free again once those clients left
        with socket.create_connection((host, port), timeout=30) as s:
            return s.recv(200)

    for _ in range(100):  # the server notices the closed connections asynchronously
        greeting = await in_thread(again)
        if greeting.startswith(b"220 "):
            break
        await asyncio.sleep(0.05)
    assert greeting.startswith(b"220 ")


async def test_trusted_networks_are_not_limited(make_env: MakeEnv) -> None:
    env = await make_env(smtp={"max_connections_per_ip": 1})
    host, port = env.addr("smtp")

    def go() -> list[bytes]:
        socks = [socket.create_connection((host, port), timeout=30) for _ in range(3)]
        try:
            return [s.recv(200)[:4] for s in socks]
        finally:
            for s in socks:
                s.close()

    assert await in_thread(go) == [b"220 "] * 3
