"""Hostile and broken clients: malformed commands, out-of-order commands, a client that goes
away in the middle of DATA. Raw sockets, so nothing smooths the bytes over."""

from __future__ import annotations

import asyncio
import socket

from tests.mailenv import DOMAIN, MailEnv, body_of, in_thread, message


class RawClient:
    """Line-oriented SMTP over a plain socket; ``say`` returns the complete reply."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=30)
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self) -> bytes:
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                break
            lines.append(line)
            if line[3:4] != b"-":
                break
        return b"".join(lines)

    def say(self, line: bytes) -> bytes:
        try:
            self.sock.sendall(line + b"\r\n")
            return self.reply()
        except OSError:  # the server closed the connection
            return b""

    def close(self) -> None:
        self.file.close()
        self.sock.close()


async def test_malformed_and_out_of_order_commands(env: MailEnv) -> None:
    def go() -> dict[str, bytes]:
        c = RawClient(env.addr("smtp"))
        try:
            r = {"greeting": c.greeting}
            r["mail before helo"] = c.say(b"MAIL FROM:<a@example.net>")
            r["empty ehlo"] = c.say(b"EHLO")
            r["ehlo"] = c.say(b"EHLO client.example.net")
            r["rcpt before mail"] = c.say(b"RCPT TO:<bob@example.com>")
            r["data before rcpt"] = c.say(b"DATA")
            r["mail without colon"] = c.say(b"MAIL <a@example.net>")
            r["not an address"] = c.say(b"MAIL FROM:<not an address>")
            r["bad domain"] = c.say(b"MAIL FROM:<a@-bad-.example>")
            r["unknown param"] = c.say(b"MAIL FROM:<a@example.net> FROB=1")
            r["bad size"] = c.say(b"MAIL FROM:<a@example.net> SIZE=lots")
            r["long line"] = c.say(b"NOOP " + b"x" * 5000)
            r["binary"] = c.say(b"\xff\xfe\x00garbage")
            r["mail"] = c.say(b"MAIL FROM:<a@example.net>")
            r["nested mail"] = c.say(b"MAIL FROM:<b@example.net>")
            r["bad rcpt"] = c.say(b"RCPT TO:<@@example.com>")
            r["no domain"] = c.say(b"RCPT TO:<bob>")
            r["rcpt"] = c.say(b"RCPT TO:<bob@example.com>")
            r["data arg"] = c.say(b"DATA now")
            r["data"] = c.say(b"DATA")
            r["end"] = c.say(b"Subject: ok\r\n\r\n..leading dot\r\n.")
            r["quit"] = c.say(b"QUIT")
            return r
        finally:
            c.close()

    r = await in_thread(go)
    assert r["greeting"].startswith(b"220 mx.example.com ")
    assert r["mail before helo"].startswith(b"503 5.5.1 ")
    assert r["empty ehlo"].startswith(b"501 ")
    assert r["ehlo"].startswith(b"250-mx.example.com")
    assert r["rcpt before mail"].startswith(b"503 ")
    assert r["data before rcpt"].startswith(b"503 ")
    assert r["mail without colon"].startswith(b"501 ")
    assert r["not an address"].startswith(b"553 5.1.7 ")
    assert r["bad domain"].startswith(b"553 5.1.7 ")
    assert r["unknown param"].startswith(b"555 ")
    assert r["bad size"].startswith(b"501 ")
    assert r["long line"].startswith(b"500 ")
    assert r["binary"].startswith(b"500 ")
    assert r["mail"].startswith(b"250 ")
    assert r["nested mail"].startswith(b"503 ")
    assert r["bad rcpt"][:1] == b"5"
    assert r["no domain"][:1] == b"5"
    assert r["rcpt"].startswith(b"250 ")
    assert r["data arg"].startswith(b"501 ")
    assert r["data"].startswith(b"354 ")
    assert r["end"].startswith(b"250 ")
    assert r["quit"].startswith(b"221 ")
    [stored] = env.inbox("bob")
    assert body_of(stored) == b"Subject: ok\r\n\r\n.leading dot\r\n"  # dot-unstuffed


async def test_client_dropping_mid_data_stores_nothing(env: MailEnv) -> None:
    def go() -> None:
        c = RawClient(env.addr("smtp"))
        c.say(b"EHLO client.example.net")
        c.say(b"MAIL FROM:<a@example.net>")
        c.say(b"RCPT TO:<bob@example.com>")
        assert c.say(b"DATA").startswith(b"354 ")
        c.sock.sendall(b"Subject: half\r\n\r\nthe first half of the body\r\n")
        c.close()  # no final dot

    await in_thread(go)
    await asyncio.sleep(0.3)
    assert env.inbox("bob") == []
    assert env.spooled() == []
    # The server is fine afterwards.
    raw = message("after")

    def again() -> None:
        with env.smtp() as client:
            client.sendmail("a@example.net", [f"bob@{DOMAIN}"], raw)

    await in_thread(again)
    assert [body_of(m) for m in env.inbox("bob")] == [raw]


async def test_too_many_unknown_commands_end_the_session(env: MailEnv) -> None:
    def go() -> list[bytes]:
        c = RawClient(env.addr("smtp"))
        try:
            return [c.say(b"XYZZY") for _ in range(6)]
        finally:
            c.close()

    replies = await in_thread(go)
    assert replies[0].startswith(b"500 5.5.2 ")
    assert any(r.startswith(b"502 5.5.1 ") for r in replies)
    assert replies[-1] == b""  # closed
