"""An rmail server with the imap and imaps listeners on 127.0.0.1, run in a background thread
so tests can drive it with blocking clients (imaplib, imapclient, mbsync)."""

from __future__ import annotations

import asyncio
import imaplib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rmail.auth.passwords import hash_password
from rmail.config import Config
from rmail.imap.server import Limits
from rmail.server import Server
from rmail.services import Services, build_services
from rmail.store.accounts import Accounts
from rmail.store.mailbox import REAPER, Folder
from tests.conftest import config_dict

DOMAIN = "example.com"
USER = "alice"
PASSWORD = "secret password"
TIMEOUT = 30.0
_HASH = hash_password(PASSWORD)  # argon2 once per test run


def message(n: int, body: str = "hello", subject: str | None = None, **headers: str) -> bytes:
    """A small, distinct, well-formed message with CRLF line ends."""
    lines = [f"From: Sender {n} <sender{n}@example.org>", f"To: {USER}@{DOMAIN}",
             f"Subject: {subject if subject is not None else f'message {n}'}",
             f"Message-ID: <{n}@example.org>"]
    headers.setdefault("Date", "Mon, 1 Jan 2024 10:00:00 +0000")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


@dataclass
class ImapServer:
    config: Config
    core: Services
    host: str
    port: int
    ssl_port: int
    cert: Path
    loop: asyncio.AbstractEventLoop
    clients: list[Any] = field(default_factory=list)

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.cert))
        ctx.check_hostname = False
        return ctx

    def connect(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port, timeout=TIMEOUT)
        self.clients.append(client)
        return client

    def login(self, user: str = USER, password: str = PASSWORD) -> imaplib.IMAP4:
        client = self.connect()
        client.login(user, password)
        return client

    def connect_ssl(self) -> imaplib.IMAP4_SSL:
        client = imaplib.IMAP4_SSL(self.host, self.ssl_port, ssl_context=self.ssl_context(),
                                   timeout=TIMEOUT)
        self.clients.append(client)
        return client

    def raw(self) -> RawClient:
        client = RawClient(self.host, self.port)
        self.clients.append(client)
        return client

    def folder(self, name: str = "INBOX") -> Folder:
        return self.core.mail.mailbox(DOMAIN, USER).folder(name)

    def deliver(self, raw: bytes, folder: str = "INBOX", flags: tuple[str, ...] = ()) -> int:
        return self.folder(folder).append(raw, flags).uid


class RawClient:
    """A bare socket speaking bytes, for exact-response and hostile-input tests."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buf = b""
        self.greeting = self.line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def until_tagged(self, tag: bytes) -> list[bytes]:
        """Lines up to and including the tagged response of `tag` (literals inline)."""
        out = []
        while True:
            line = self.line()
            while line.endswith(b"}") and b"{" in line:
                size = int(line[line.rindex(b"{") + 1:-1].rstrip(b"+"))
                line += b"\r\n" + self.read_exact(size) + self.line()
            out.append(line)
            if line.startswith(tag + b" "):
                return out

    def cmd(self, tag: bytes, command: bytes) -> list[bytes]:
        self.send(tag + b" " + command + b"\r\n")
        return self.until_tagged(tag)

    def closed(self) -> bool:
        """True once the server has closed the connection (reads what is left)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True

    def logout(self) -> None:
        self.sock.close()

    def shutdown(self) -> None:
        self.sock.close()


def _run_server(config: Config, limits: Limits, box: dict[str, Any], ready: threading.Event,
                stop: threading.Event) -> None:
    async def main() -> None:
        core = build_services(config)
        server = Server(config, services={"core": core, "imap_limits": limits})
        try:
            await server.start()
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            return
        box.update(core=core, server=server, loop=asyncio.get_running_loop())
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await server.stop()

    asyncio.run(main())


StartImap = Callable[..., ImapServer]


@pytest.fixture
def start_imap(tmp_path: Path) -> Iterator[StartImap]:
    """`start_imap(limits=Limits(...), trusted=False, **config_overrides)`."""
    stops: list[tuple[threading.Event, threading.Thread, ImapServer]] = []

    def start(limits: Limits | None = None, trusted: bool = True, **overrides: Any
              ) -> ImapServer:
        base = config_dict(tmp_path / f"mailstore{len(stops)}")
        base["listeners"]["http"] = {"enabled": False, "port": 0}  # type: ignore[index]
        base["listeners"]["imap"] = {"enabled": True, "port": 0}  # type: ignore[index]
        base["listeners"]["imaps"] = {"enabled": True, "port": 0}  # type: ignore[index]
        if not trusted:
            base["security"] = {"trusted_networks": []}
        base.update(overrides)
        config = Config.from_dict(base, source="test")
        Accounts(config.mail_root).create(DOMAIN, USER, _HASH)
        box: dict[str, Any] = {}
        ready, stop = threading.Event(), threading.Event()
        thread = threading.Thread(target=_run_server,
                                  args=(config, limits or Limits(), box, ready, stop),
                                  daemon=True)
        thread.start()
        assert ready.wait(TIMEOUT), "server did not start"
        if "error" in box:
            raise box["error"]
        server: Server = box["server"]
        host, port = server.addresses["imap"]
        srv = ImapServer(config, box["core"], host, port, server.addresses["imaps"][1],
                         server.cert_path, box["loop"])  # type: ignore[arg-type]
        stops.append((stop, thread, srv))
        return srv

    yield start
    for stop, thread, srv in stops:
        for client in srv.clients:
            try:
                client.shutdown()
            except Exception:
                pass
        stop.set()
        thread.join(TIMEOUT)
    REAPER.flush()


@pytest.fixture
def imap(start_imap: StartImap) -> ImapServer:
    return start_imap()
