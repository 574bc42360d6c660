"""A running rmail (TLS on port 0) with three users, and a small HTTP client for it.

``api = await make_api(**config_overrides)``; the `api` fixture is the default one. Users:
`admin` (admin), `alice` and `bob`, all `@example.com`, passwords `<name>-password`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from rmail import auth
from rmail.config import Config
from rmail.server import Server
from rmail.services import Services, build_services
from rmail.tls import client_context_trusting
from rmail.web.app import create_app

DOMAIN = "example.com"
USERS = {"admin": True, "alice": False, "bob": False}

_NO_JSON = object()


def password_of(user: str) -> str:
    return f"{user}-password"


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
        assert isinstance(data["error"], str) and data["error"]
        return str(data["error"])


@dataclass
class Api:
    base: str  # https://127.0.0.1:PORT (a Server) or http://... (an app without listeners)
    config: Config
    services: Services
    session: aiohttp.ClientSession
    ssl: ssl.SSLContext | bool
    tokens: dict[str, str] = field(default_factory=dict)
    server: Server | None = None  # None for `app_only`

    @property
    def address(self) -> tuple[str, int]:
        url = URL(self.base)
        assert url.host is not None and url.port is not None
        return url.host, url.port

    async def call(self, method: str, path: str, *, token: str | None = None,
                   user: str | None = None, json: Any = _NO_JSON, data: Any = None,
                   headers: dict[str, str] | None = None) -> Reply:
        """`path` is sent exactly as written (percent-escapes included)."""
        hdrs = dict(headers or {})
        if user is not None:
            token = await self.token(user)
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": hdrs, "ssl": self.ssl}
        if json is not _NO_JSON:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        url = URL(self.base + path, encoded=True)
        async with self.session.request(method, url, **kwargs) as response:
            return Reply(response.status, response.headers, await response.read())

    async def login(self, user: str, password: str | None = None) -> Reply:
        return await self.call("POST", "/auth/login", json={
            "username": user, "password": password or password_of(user), "domain": DOMAIN})

    async def token(self, user: str) -> str:
        if user not in self.tokens:
            reply = await self.login(user)
            assert reply.status == 200, reply.body
            self.tokens[user] = reply.json()["token"]
        return self.tokens[user]


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture(scope="session")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The users are made once (argon2 hashing is slow) and copied for every test."""
    root = tmp_path_factory.mktemp("web-template") / "mailstore"

    async def create() -> None:
        for user, admin in USERS.items():
            await auth.create_user(root, user, DOMAIN, password_of(user), admin=admin)

    asyncio.run(create())
    return root


@pytest.fixture
async def make_api(tmp_config: Config, template_store: Path) -> AsyncIterator[MakeApi]:
    """``await make_api(**overrides)``: a `Server` with TLS on port 0. With ``app_only=True``
    the app runs on aiohttp's test server over plain HTTP and no listener is started, so the
    config may enable mail listeners on fixed ports (autoconfig) without binding them."""
    made: list[tuple[Server | TestServer, aiohttp.ClientSession]] = []

    async def make(*, app_only: bool = False, **overrides: Any) -> Api:
        config = tmp_config.with_overrides(domains=[DOMAIN], **overrides)
        if not config.mail_root.exists():
            shutil.copytree(template_store, config.mail_root)
        services = build_services(config)
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        if app_only:
            test_server = TestServer(create_app(config, core=services), host="127.0.0.1")
            await test_server.start_server()
            made.append((test_server, session))
            base = str(test_server.make_url("")).rstrip("/")
            return Api(base, config, services, session, False)
        server = Server(config, services={"core": services})
        made.append((server, session))
        await server.start()
        assert server.cert_path is not None
        return Api(server.url().rstrip("/"), config, services, session,
                   client_context_trusting(server.cert_path), server=server)

    yield make
    for server, session in reversed(made):
        await session.close()
        if isinstance(server, TestServer):
            await server.close()
        else:
            await server.stop()


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()
