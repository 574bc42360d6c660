"""A client that goes away while its message is being delivered: the delivery still runs to
its end, including what rmail took over after the store work (here the forward of an alias
to another domain, queued once the local copy is committed).

This pins the aiosmtpd internal `RmailSMTP.delivering` relies on: aiosmtpd ends a session by
``self._handler_coroutine.cancel()`` when the connection is lost or half-closed; a session
defers that cancel until its delivery is over. Were aiosmtpd to cancel another way, the
cancel would cut the delivery short after the local copy and the forward would be lost.
"""

from __future__ import annotations

import socket

import pytest

from tests.mailenv import DOMAIN, MailEnv, body_of, in_thread, message

FORWARD = "far@remote.example"


def read_reply(sock: socket.socket) -> bytes:
    """One whole (possibly multi-line) reply."""
    data = b""
    while True:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) > 1 and lines[-2][3:4] == b" ":
            return data


def deliver_and_hang_up(address: tuple[str, int], hello: bytes, raw: bytes,
                        half_close: bool) -> None:
    """A transaction whose client leaves right after the final dot, without the reply."""
    with socket.create_connection(address, timeout=30) as sock:
        assert read_reply(sock).startswith(b"220")
        for command in (hello, b"MAIL FROM:<someone@example.net>",
                        f"RCPT TO:<team@{DOMAIN}>".encode(), b"DATA"):
            sock.sendall(command + b"\r\n")
            assert read_reply(sock)[:1] in (b"2", b"3")
        sock.sendall(raw + b".\r\n")
        if half_close:
            sock.shutdown(socket.SHUT_WR)  # aiosmtpd's eof_received


@pytest.mark.parametrize("half_close", [True, False], ids=["half-close", "close"])
@pytest.mark.parametrize("listener", ["smtp", "lmtp"])
async def test_delivery_outlives_its_client(env: MailEnv, listener: str,
                                            half_close: bool) -> None:
    env.core.accounts.set_alias(DOMAIN, "team", f"bob, {FORWARD}")
    raw = message(f"gone {listener}")
    hello = b"LHLO client.example.net" if listener == "lmtp" else b"EHLO client.example.net"
    await in_thread(deliver_and_hang_up, env.addr(listener), hello, raw, half_close)
    [stored] = await env.wait_inbox("bob", 1)
    assert body_of(stored) == raw
    [queued] = await env.wait_queued(1)
    assert [(leg.domain, [r.address for r in leg.recipients]) for leg in queued.legs] == \
        [("remote.example", [FORWARD])]


async def test_session_after_a_hangup_during_delivery(env: MailEnv) -> None:
    """The listener keeps serving after a hang-up during a delivery."""
    env.core.accounts.set_alias(DOMAIN, "team", "bob")
    raw = message("after")
    await in_thread(deliver_and_hang_up, env.addr("smtp"), b"EHLO c.example.net", raw, True)
    await env.wait_inbox("bob", 1)

    def again() -> dict[str, object]:
        with env.smtp() as client:
            return client.sendmail("someone@example.net", [f"bob@{DOMAIN}"], raw)  # type: ignore[return-value]

    assert await in_thread(again) == {}
    assert len(await env.wait_inbox("bob", 2)) == 2
