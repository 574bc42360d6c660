"""One rmail with IMAP, POP3, submission and HTTP (CalDAV, drive, JSON API) on 127.0.0.1, run
in a background thread so blocking clients (imaplib, poplib, smtplib, swaks, cadaver, curl,
the caldav library, requests) drive it over real sockets."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from rmail.auth.passwords import hash_password
from rmail.config import LISTENER_NAMES, Config
from rmail.server import Server
from rmail.services import Services, build_services
from tests.conftest import TEST_WORKERS

DOMAIN = "example.com"
PASSWORDS = {"alice": "alice master password", "bob": "bob master password"}


@dataclass
class Live:
    config: Config
    core: Services
    server: Server

    def addr(self, name: str) -> tuple[str, int]:
        return self.server.addresses[name]

    @property
    def http(self) -> str:
        host, port = self.addr("http")
        return f"http://{host}:{port}"

    def api(self, method: str, path: str, *, token: str | None = None,
            auth: tuple[str, str] | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, self.http + path, headers=headers, auth=auth,
                                timeout=60, **kwargs)

    def token(self, user: str, totp: str | None = None) -> str:
        body = {"username": f"{user}@{DOMAIN}", "password": PASSWORDS[user]}
        if totp:
            body["token"] = totp
        reply = self.api("POST", "/auth/login", json=body)
        assert reply.status_code == 200, reply.text
        return str(reply.json()["token"])


def _config(mail_root: Path) -> Config:
    listeners: dict[str, dict[str, object]] = {
        name: {"enabled": name in ("imap", "pop3", "submission", "http"), "port": 0}
        for name in LISTENER_NAMES}
    listeners["http"]["tls"] = False
    return Config.from_dict({"hostname": "localhost", "mail_root": str(mail_root),
                             "domains": [DOMAIN], "listeners": listeners,
                             "workers": TEST_WORKERS}, source="auth e2e")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    config = _config(tmp_path / "mailstore")
    core = build_services(config)
    for user, password in PASSWORDS.items():
        core.accounts.create(DOMAIN, user, hash_password(password))
    box: dict[str, Any] = {}
    ready, stop = threading.Event(), threading.Event()

    async def main() -> None:
        server = Server(config, services={"core": core})
        try:
            await server.start()
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            return
        box["server"] = server
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await server.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    ready.wait(60)
    if "error" in box:
        raise box["error"]
    try:
        yield Live(config, core, box["server"])
    finally:
        stop.set()
        thread.join(60)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {name}; .ci/run installs it)")
    return path
