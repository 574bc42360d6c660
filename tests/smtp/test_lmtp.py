"""LMTP (RFC 2033): LHLO, one reply per recipient after DATA."""

from __future__ import annotations

from tests.mailenv import DOMAIN, MailEnv, body_of, in_thread, message
from tests.smtp.test_malformed import RawClient


async def test_one_reply_per_recipient(env: MailEnv) -> None:
    env.core.accounts.update(DOMAIN, "alice", quota_mb=1)
    env.core.mail.mailbox(DOMAIN, "alice").folder("INBOX").append(b"x" * (1024 * 1024 + 1))
    raw = message("lmtp")

    def go() -> dict[str, bytes]:
        c = RawClient(env.addr("lmtp"))
        try:
            r = {"greeting": c.greeting}
            r["helo"] = c.say(b"HELO client")
            r["lhlo"] = c.say(b"LHLO mta.example.net")
            r["mail"] = c.say(b"MAIL FROM:<a@example.net>")
            r["bob"] = c.say(b"RCPT TO:<bob@example.com>")
            r["alice"] = c.say(b"RCPT TO:<alice@example.com>")
            r["dup"] = c.say(b"RCPT TO:<bob@example.com>")
            r["unknown"] = c.say(b"RCPT TO:<nobody@example.com>")
            r["remote"] = c.say(b"RCPT TO:<x@elsewhere.example>")
            r["data"] = c.say(b"DATA")
            c.sock.sendall(raw + b".\r\n")
            r["replies"] = b"".join(c.reply() for _ in range(2))
            return r
        finally:
            c.close()

    r = await in_thread(go)
    assert r["greeting"].startswith(b"220 ")
    assert r["helo"].startswith(b"500 ")
    assert r["lhlo"].startswith(b"250-mx.example.com") and b"PIPELINING" in r["lhlo"]
    assert r["bob"].startswith(b"250 ") and r["dup"].startswith(b"250 ")
    assert r["alice"].startswith(b"452 4.2.2 ")  # full at RCPT time
    assert r["unknown"].startswith(b"550 5.1.1 ")
    assert r["remote"].startswith(b"550 5.1.2 ")
    assert r["data"].startswith(b"354 ")
    # bob and the duplicate bob: one reply each, in RCPT order.
    assert r["replies"].split(b"\r\n")[:2] == [b"250 2.0.0 Delivered"] * 2
    assert [body_of(m) for m in env.inbox("bob")] == [raw]
    assert b"with LMTP" in env.inbox("bob")[0]


async def test_per_recipient_failure_at_data(env: MailEnv) -> None:
    """Quota found exceeded at DATA: that recipient alone gets the failure."""
    env.core.accounts.update(DOMAIN, "alice", quota_mb=1)
    big = message("big", body=("b" * 998 + "\r\n") * 1100)

    def go() -> list[tuple[int, bytes]]:
        client = env.smtp("lmtp")
        try:
            client.ehlo()
            client.mail("a@example.net")
            assert client.rcpt(f"bob@{DOMAIN}")[0] == 250
            assert client.rcpt(f"alice@{DOMAIN}")[0] == 250
            client.putcmd("data")
            assert client.getreply()[0] == 354
            client.send(big + b".\r\n")
            return [client.getreply(), client.getreply()]
        finally:
            client.close()

    bob, alice = await in_thread(go)
    assert bob[0] == 250
    assert alice[0] == 552 and alice[1].startswith(b"5.2.2 ")
    assert [body_of(m) for m in env.inbox("bob")] == [big]
    assert env.inbox("alice") == []
    assert env.spooled() == []  # LMTP's client keeps the failed recipient
