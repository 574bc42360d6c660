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
from yarl import URL

from rmail import auth
from rmail.config import Config
from rmail.server import Server
from rmail.services import Services, build_services
from rmail.tls import client_context_trusting

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
    server: Server
    services: Services
    session: aiohttp.ClientSession
    ssl: ssl.SSLContext
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.server.url().rstrip("/")

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
    made: list[tuple[Server, aiohttp.ClientSession]] = []

    async def make(**overrides: Any) -> Api:
        config = tmp_config.with_overrides(domains=[DOMAIN], **overrides)
        if not config.mail_root.exists():
            shutil.copytree(template_store, config.mail_root)
        services = build_services(config)
        server = Server(config, services={"core": services})
        await server.start()
        assert server.cert_path is not None
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        made.append((server, session))
        return Api(server, services, session, client_context_trusting(server.cert_path))

    yield make
    for server, session in reversed(made):
        await session.close()
        await server.stop()


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()
