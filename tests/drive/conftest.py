"""A running rmail over plain HTTP on 127.0.0.1 (so litmus, cadaver and curl need no CA), users
alice and bob @example.com, and a small client that sends paths exactly as written.

Users are made once per session (argon2 is slow) and copied into each test's mail root.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from rmail import auth
from rmail.config import Config
from rmail.server import Server
from rmail.services import Services, build_services
from rmail.store.drive import DrivePath, DriveStore, UserDrive

DOMAIN = "example.com"
USERS = ("alice", "bob")


def password_of(user: str) -> str:
    return f"{user}-password"


def basic(user: str, password: str | None = None) -> str:
    raw = f"{user}@{DOMAIN}:{password or password_of(user)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> str:
        data = self.json()
        assert set(data) == {"error"}, data
        return str(data["error"])


@dataclass
class Drive:
    """The running server, as seen by a curl-style client."""

    base: str                 # http://127.0.0.1:PORT
    config: Config
    services: Services
    session: aiohttp.ClientSession

    @property
    def host_port(self) -> tuple[str, int]:
        url = URL(self.base)
        assert url.host is not None and url.port is not None
        return url.host, url.port

    async def call(self, method: str, path: str, *, user: str | None = "alice",
                   data: Any = None, json_body: Any = None,
                   headers: dict[str, str] | None = None) -> Reply:
        """`path` is sent exactly as written (percent-escapes and dot segments included)."""
        hdrs = dict(headers or {})
        if user is not None and "Authorization" not in hdrs:
            hdrs["Authorization"] = basic(user)
        kwargs: dict[str, Any] = {"headers": hdrs}
        if json_body is not None:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
        url = URL(self.base + path, encoded=True)
        async with self.session.request(method, url, allow_redirects=False,
                                        **kwargs) as response:
            return Reply(response.status, response.headers, await response.read())

    def store(self, user: str = "alice") -> UserDrive:
        return DriveStore(self.config.mail_root).drive(DOMAIN, user)

    def totals(self, user: str = "alice", path: str = "") -> dict[str, int]:
        return self.store(user).counters(DrivePath.parse(path))

    def files_dir(self, user: str = "alice") -> Path:
        return self.config.mail_root / "domains" / DOMAIN / "users" / user / "drive" / "files"


MakeDrive = Callable[..., Awaitable[Drive]]


@pytest.fixture(scope="session")
def drive_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("drive-template") / "mailstore"

    async def create() -> None:
        for user in USERS:
            await auth.create_user(root, user, DOMAIN, password_of(user))

    asyncio.run(create())
    return root


def plain_http(config: Config, **overrides: Any) -> Config:
    return config.with_overrides(domains=[DOMAIN], listeners={"http": {"tls": False}},
                                 **overrides)


@pytest.fixture
async def make_drive(tmp_config: Config, drive_template: Path) -> AsyncIterator[MakeDrive]:
    made: list[tuple[Server, aiohttp.ClientSession]] = []

    async def make(**overrides: Any) -> Drive:
        config = plain_http(tmp_config, **overrides)
        if not config.mail_root.exists():
            shutil.copytree(drive_template, config.mail_root)
        services = build_services(config)
        server = Server(config, services={"core": services})
        await server.start()
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        made.append((server, session))
        return Drive(server.url().rstrip("/"), config, services, session)

    yield make
    for server, session in reversed(made):
        await session.close()
        await server.stop()


@pytest.fixture
async def drive(make_drive: MakeDrive) -> Drive:
    return await make_drive()
