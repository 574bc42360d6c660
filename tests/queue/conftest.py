"""Fixtures for the outbound queue: an SMTP sink (aiosmtpd on the test's loop) that records
what it receives and answers as told, and rmail routed to it for ``remote.test``."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from rmail.tls import generate_self_signed
from tests.mailenv import MailEnv, mail_config, start_env

SINK_DOMAIN = "remote.test"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool


@dataclass
class SinkHandler:
    """Replies to give, one per attempt, per recipient address before accepting it
    (``"451 4.3.0 busy"``, ``"550 5.1.1 no such user"``...)."""

    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    attempts: int = 0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        planned = self.rcpt_replies.get(address)
        if planned:
            return planned.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        self.received.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos),
                                      envelope.original_content or b"",
                                      session.ssl is not None))
        return "250 2.0.0 OK queued"


class Sink:
    """A running sink; ``port`` is where rmail's route points."""

    def __init__(self, handler: SinkHandler, server: asyncio.Server) -> None:
        self.handler = handler
        self.server = server
        self.port: int = server.sockets[0].getsockname()[1]

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    async def wait(self, count: int, timeout: float = 60.0) -> list[Received]:
        for _ in range(int(timeout / 0.05)):
            if len(self.received) >= count:
                break
            await asyncio.sleep(0.05)
        return self.received


MakeSink = Callable[..., Awaitable[Sink]]
MakeEnv = Callable[..., Awaitable[MailEnv]]


@pytest.fixture
async def make_sink(tmp_path: Path) -> AsyncIterator[MakeSink]:
    servers: list[asyncio.Server] = []
    cert_pem, key_pem = generate_self_signed("sink.remote.test")
    (tmp_path / "sink-cert.pem").write_bytes(cert_pem)
    (tmp_path / "sink-key.pem").write_bytes(key_pem)

    async def make(*, tls: bool = True, port: int = 0) -> Sink:
        handler = SinkHandler()
        context = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tmp_path / "sink-cert.pem", tmp_path / "sink-key.pem")
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.remote.test", tls_context=context,
                         enable_SMTPUTF8=True, loop=loop),
            "127.0.0.1", port)
        servers.append(server)
        return Sink(handler, server)

    yield make
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def make_env(tmp_path: Path) -> AsyncIterator[MakeEnv]:
    """``make_env(port, mail_root=None, **overrides)``: rmail with remote.test routed to
    127.0.0.1:port, one-second retries, users bob and alice (created once per store)."""
    envs: list[MailEnv] = []

    async def make(port: int, *, mail_root: Path | None = None, **overrides: Any) -> MailEnv:
        root = mail_root or tmp_path / f"mailstore{len(envs)}"
        fresh = not root.exists()
        overrides.setdefault("relay", {"routes": {SINK_DOMAIN: f"127.0.0.1:{port}"}})
        queue = {"retry_min": 1, "retry_max": 1, "timeout": 30}
        queue.update(overrides.pop("queue", {}))
        env = await start_env(mail_config(root, queue=queue, **overrides))
        if fresh:
            env.add_user("bob")
            env.add_user("alice")
        envs.append(env)
        return env

    yield make
    for env in reversed(envs):
        await env.stop()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
