"""An rmail server with the pop3 (STLS) and pop3s listeners (and imap, for the shared lockout
and for watching INBOX) on 127.0.0.1, run in a background thread so tests can drive it with
blocking clients: poplib, fetchmail, getmail6, imaplib."""

from __future__ import annotations

import asyncio
import poplib
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rmail.auth.passwords import hash_password
from rmail.config import Config
from rmail.pop3.session import Limits
from rmail.server import Server
from rmail.services import Services, build_services
from rmail.store.accounts import Accounts
from rmail.store.mailbox import REAPER, Folder
from tests.conftest import config_dict
from tests.imap.conftest import RawClient as ImapRawClient

DOMAIN = "example.com"
USER = "alice"
ADDRESS = f"{USER}@{DOMAIN}"
PASSWORD = "secret password"
TIMEOUT = 30.0
_HASH: list[str] = []


def password_hash() -> str:
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]


def message(n: int, body: str = "hello", size: int = 0) -> bytes:
    """A distinct well-formed message with CRLF line ends, padded to about `size` bytes."""
    head = (f"From: Sender {n} <sender{n}@example.org>\r\nTo: {ADDRESS}\r\n"
            f"Subject: message {n}\r\nMessage-ID: <{n}@example.org>\r\n"
            "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n")
    text = body + "\r\n"
    if size > len(head) + len(text):
        filler = size - len(head) - len(text)
        line = "x" * 76 + "\r\n"
        text += line * (filler // len(line))
    return (head + text).encode()


@dataclass
class Pop3Server:
    config: Config
    core: Services
    server: Server
    cert: Path
    clients: list[Any] = field(default_factory=list)

    def addr(self, name: str) -> tuple[str, int]:
        return self.server.addresses[name]

    @property
    def port(self) -> int:
        return self.addr("pop3")[1]

    @property
    def ssl_port(self) -> int:
        return self.addr("pop3s")[1]

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.cert))
        ctx.check_hostname = False
        return ctx

    def connect(self) -> poplib.POP3:
        client = poplib.POP3("127.0.0.1", self.port, timeout=TIMEOUT)
        self.clients.append(client)
        return client

    def login(self, user: str = ADDRESS, password: str = PASSWORD) -> poplib.POP3:
        client = self.connect()
        client.user(user)
        client.pass_(password)
        return client

    def connect_ssl(self) -> poplib.POP3_SSL:
        client = poplib.POP3_SSL("127.0.0.1", self.ssl_port, context=self.ssl_context(),
                                 timeout=TIMEOUT)
        self.clients.append(client)
        return client

    def raw(self, name: str = "pop3") -> RawClient:
        client = RawClient(*self.addr(name))
        self.clients.append(client)
        return client

    def folder(self, name: str = "INBOX", user: str = USER) -> Folder:
        return self.core.mail.mailbox(DOMAIN, user).folder(name)

    def deliver(self, raw: bytes, folder: str = "INBOX", flags: tuple[str, ...] = (),
                user: str = USER) -> int:
        return self.folder(folder, user).append(raw, flags).uid

    def flags(self, uid: int, folder: str = "INBOX") -> tuple[str, ...]:
        return self.folder(folder).record(uid).flags


class RawClient(ImapRawClient):
    """A bare socket speaking bytes (IMAP's, with POP3's command and multi-line reply)."""

    def multiline(self) -> list[bytes]:
        lines = []
        while (line := self.line()) != b".":
            lines.append(line)
        return lines

    def cmd(self, command: bytes) -> bytes:  # type: ignore[override]
        self.send(command + b"\r\n")
        return self.line()

    def close(self) -> None:
        self.sock.close()


def _run(config: Config, services: dict[str, Any], box: dict[str, Any],
         ready: threading.Event, stop: threading.Event) -> None:
    async def main() -> None:
        core = build_services(config)
        server = Server(config, services={"core": core, **services})
        try:
            await server.start()
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            return
        box.update(core=core, server=server)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await server.stop()

    asyncio.run(main())


StartPop3 = Callable[..., Pop3Server]


@pytest.fixture
def start_pop3(tmp_path: Path) -> Iterator[StartPop3]:
    """`start_pop3(limits=Limits(...), trusted=True, mail_root=None, users=("alice",),
    lmtp=False, listeners={name: settings}, **config_overrides)`."""
    running: list[tuple[threading.Event, threading.Thread, Pop3Server]] = []

    def start(limits: Limits | None = None, trusted: bool = True, mail_root: Path | None = None,
              users: tuple[str, ...] = (USER,), lmtp: bool = False,
              listeners: dict[str, dict[str, Any]] | None = None, **overrides: Any
              ) -> Pop3Server:
        root = mail_root or tmp_path / f"mailstore{len(running)}"
        base = config_dict(root)
        config_listeners: dict[str, Any] = base["listeners"]  # type: ignore[assignment]
        config_listeners["http"] = {"enabled": False, "port": 0}
        for name in ("pop3", "pop3s", "imap", *(("lmtp",) if lmtp else ())):
            config_listeners[name] = {"enabled": True, "port": 0}
        config_listeners.update(listeners or {})
        if not trusted:
            base["security"] = {"trusted_networks": []}
        base["domains"] = [DOMAIN]
        base.update(overrides)
        config = Config.from_dict(base, source="test")
        accounts = Accounts(config.mail_root)
        for name in users:
            try:
                accounts.create(DOMAIN, name, password_hash())
            except Exception:  # a restart on the same store keeps its users
                pass
        box: dict[str, Any] = {}
        ready, stop = threading.Event(), threading.Event()
        services: dict[str, Any] = {"pop3_limits": limits} if limits is not None else {}
        thread = threading.Thread(target=_run, args=(config, services, box, ready, stop),
                                  daemon=True)
        thread.start()
        assert ready.wait(TIMEOUT), "server did not start"
        if "error" in box:
            raise box["error"]
        server: Server = box["server"]
        assert server.cert_path is not None
        srv = Pop3Server(config, box["core"], server, server.cert_path)
        running.append((stop, thread, srv))
        return srv

    def stop_one(srv: Pop3Server) -> None:
        for stop, thread, s in running:
            if s is srv:
                _close_clients(s)
                stop.set()
                thread.join(TIMEOUT)

    start.stop = stop_one  # type: ignore[attr-defined]
    yield start
    for stop, thread, srv in running:
        _close_clients(srv)
        stop.set()
        thread.join(TIMEOUT)
    REAPER.flush()


def _close_clients(srv: Pop3Server) -> None:
    for client in srv.clients:
        try:
            # imaplib's close() is the IMAP CLOSE command; its shutdown() closes the socket
            getattr(client, "shutdown", client.close)()
        except Exception:
            pass
    srv.clients.clear()


@pytest.fixture
def pop3(start_pop3: StartPop3) -> Pop3Server:
    return start_pop3()
