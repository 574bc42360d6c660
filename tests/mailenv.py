"""A running rmail with the SMTP-family listeners on a temporary store, for tests of SMTP,
submission, LMTP, delivery and the outbound queue.

Tests drive it with real clients over real sockets; blocking clients (smtplib, swaks) run in a
thread (`in_thread`) so the server keeps running on the test's event loop.
"""

from __future__ import annotations

import asyncio
import shutil
import smtplib
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rmail.auth.passwords import hash_password
from rmail.config import LISTENER_NAMES, Config
from rmail.queue.spool import QueuedMessage
from rmail.server import Server
from rmail.services import Services, build_services

T = TypeVar("T")

DOMAIN = "example.com"
PASSWORD = "correct horse"
_HASH: list[str] = []
MAIL_LISTENERS = ("smtp", "submission", "submissions", "lmtp")
SWAKS = shutil.which("swaks")


def password_hash() -> str:
    """One argon2 hash for every test user (hashing costs tens of milliseconds)."""
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]


def mail_config(mail_root: Path, **overrides: Any) -> Config:
    """SMTP, submission, submissions and LMTP on free loopback ports; everything else off."""
    listeners: dict[str, dict[str, object]] = {
        name: {"enabled": name in MAIL_LISTENERS, "port": 0} for name in LISTENER_NAMES
    }
    data: dict[str, Any] = {"hostname": "mx.example.com", "mail_root": str(mail_root),
                            "domains": [DOMAIN], "listeners": listeners}
    config = Config.from_dict(data, source="mail_config")
    return config.with_overrides(**overrides) if overrides else config


class MailEnv:
    """A started server plus its shared services."""

    def __init__(self, config: Config, core: Services, server: Server) -> None:
        self.config = config
        self.core = core
        self.server = server

    def addr(self, listener: str) -> tuple[str, int]:
        return self.server.addresses[listener]

    def add_user(self, username: str, domain: str = DOMAIN, **changes: Any) -> str:
        accounts = self.core.accounts
        addresses = changes.pop("addresses", ())
        quota_mb = changes.pop("quota_mb", 1024)
        accounts.create(domain, username, password_hash(), quota_mb=quota_mb,
                        addresses=addresses)
        if changes:
            accounts.update(domain, username, **changes)
        return f"{username}@{domain}"

    def inbox(self, username: str, domain: str = DOMAIN) -> list[bytes]:
        folder = self.core.mail.mailbox(domain, username).folder("INBOX")
        return [folder.read_message(uid) for uid in folder.uids()]

    async def wait_inbox(self, username: str, count: int, domain: str = DOMAIN,
                         timeout: float = 30.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            messages = self.inbox(username, domain)
            if len(messages) >= count or time.monotonic() > deadline:
                return messages
            await asyncio.sleep(0.05)

    def smtp(self, listener: str = "smtp", *, timeout: float = 30.0) -> smtplib.SMTP:
        host, port = self.addr(listener)
        if listener == "submissions":
            return smtplib.SMTP_SSL(host, port, timeout=timeout, context=insecure_context())
        if listener == "lmtp":
            client = smtplib.LMTP(timeout=timeout)
            client.connect(host, port)
            return client
        return smtplib.SMTP(host, port, timeout=timeout)

    def submission(self, user: str, password: str = PASSWORD) -> smtplib.SMTP:
        """Connected to ``submission``, after STARTTLS and AUTH."""
        client = self.smtp("submission")
        client.starttls(context=insecure_context())
        client.login(user, password)
        return client

    def spooled(self) -> list[str]:
        """Ids in the outbound spool on disk: what every process sees, whichever one queued."""
        return self.core.queue.spool.ids()

    async def wait_queued(self, count: int, timeout: float = 30.0) -> list[QueuedMessage]:
        """The queue runner's messages once it holds ``count``. With worker processes a worker
        spools the message and pokes the runner (in the supervisor) over the bus, so the
        runner learns of it a moment after the client's transaction ended."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.core.queue.messages()
            if len(messages) >= count or time.monotonic() > deadline:
                return messages
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.server.stop()


def insecure_context() -> ssl.SSLContext:
    """The test server's certificate is self-signed."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def start_env(config: Config, core: Services | None = None) -> MailEnv:
    core = core or build_services(config)
    server = Server(config, services={"core": core})
    await server.start()
    return MailEnv(config, core, server)


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking client without blocking the server's loop."""
    return await asyncio.to_thread(fn, *args)


def message(subject: str = "hello", *, sender: str = "someone@example.net",
            to: str = f"bob@{DOMAIN}", body: str = "Hello there.") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}.{time.time_ns()}@example.net>\r\n"
            f"\r\n{body}\r\n").encode()


def body_of(stored: bytes) -> bytes:
    """A stored message minus the trace fields rmail put in front."""
    head, sep, rest = stored.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    i = 0
    while i < len(lines) and (lines[i].startswith((b"Return-Path:", b"Delivered-To:",
                                                   b"Received:", b"DKIM-Signature:"))
                              or lines[i][:1] in (b"\t", b" ")):
        i += 1
    return b"\r\n".join(lines[i:]) + sep + rest
