"""A running rmail (plain HTTP on port 0, through `Server`) and a browser-like client: a cookie
jar, forms read from the pages (hidden `csrf` included) and redirects followed by hand.

Users `alice`, `bob` (and `admin`) `@example.com` with passwords `<name>-password`, copied from
the web tests' template store.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rmail.config import Config
from rmail.server import Server
from rmail.services import Services, build_services
from tests.web.conftest import DOMAIN, password_of, template_store  # noqa: F401

__all__ = ["Browser", "Reply"]


@dataclass
class Reply:
    status: int
    headers: Any
    text: str
    url: str

    def forms(self) -> list[dict[str, Any]]:
        parser = _Forms()
        parser.feed(self.text)
        return parser.forms

    def form(self, cls: str) -> dict[str, Any]:
        for form in self.forms():
            if cls in form["class"].split():
                return form
        raise AssertionError(f"no form.{cls} in {self.url}: {self.text[:500]}")

    def has(self, pattern: str) -> bool:
        return re.search(pattern, self.text) is not None


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"class": a.get("class") or "", "action": a.get("action"),
                               "method": a.get("method") or "get", "fields": {},
                               "id": a.get("id")})
        elif tag == "input" and self.forms and a.get("type") == "hidden" and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""


@dataclass
class Browser:
    base: str
    config: Config
    services: Services
    session: aiohttp.ClientSession

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, data: Any = None, **kw: Any) -> Reply:
        return await self.request("POST", path, data=data, **kw)

    async def request(self, method: str, path: str, **kw: Any) -> Reply:
        url = path if "://" in path else self.base + path
        async with self.session.request(method, url, allow_redirects=False, **kw) as r:
            return Reply(r.status, r.headers, (await r.read()).decode("utf-8", "replace"),
                         str(r.url))

    async def follow(self, reply: Reply, limit: int = 5) -> Reply:
        while reply.status in (301, 302, 303) and limit:
            reply = await self.get(reply.headers["Location"])
            limit -= 1
        return reply

    async def submit(self, page: Reply, cls: str, **fields: Any) -> Reply:
        form = page.form(cls)
        data = {**form["fields"], **fields}
        return await self.post(form["action"], data=data)

    async def login(self, user: str = "alice", password: str | None = None) -> Reply:
        page = await self.get("/webmail/login")
        return await self.submit(page, "login-form", username=f"{user}@{DOMAIN}",
                                 password=password or password_of(user))

    def cookie(self, name: str) -> str | None:
        for c in self.session.cookie_jar:
            if c.key == name:
                return c.value
        return None


MakeBrowser = Callable[..., Awaitable[Browser]]


@pytest.fixture
async def make_browser(tmp_config: Config, template_store: Path  # noqa: F811
                       ) -> AsyncIterator[Callable[..., Awaitable[Browser]]]:
    """``await make_browser(**config_overrides)``; ``share=other`` reuses another's server."""
    servers: list[Server] = []
    sessions: list[aiohttp.ClientSession] = []
    import shutil

    async def make(share: Browser | None = None, **overrides: Any) -> Browser:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        if share is not None:
            return Browser(share.base, share.config, share.services, session)
        listeners = {"http": {"enabled": True, "port": 0, "tls": False}}
        config = tmp_config.with_overrides(domains=[DOMAIN], listeners=listeners, **overrides)
        if not config.mail_root.exists():
            shutil.copytree(template_store, config.mail_root)
        services = build_services(config)
        server = Server(config, services={"core": services})
        servers.append(server)
        await server.start()
        return Browser(server.url().rstrip("/"), config, services, session)

    yield make
    for s in sessions:
        await s.close()
    for server in reversed(servers):
        await server.stop()


@pytest.fixture
async def browser(make_browser: MakeBrowser) -> Browser:
    return await make_browser()


def message(i: int, sender: str = "Bob <bob@example.com>", subject: str | None = None,
            body: str = "Hello", ctype: str = "text/plain") -> bytes:
    return (f"From: {sender}\r\nTo: alice@example.com\r\nSubject: {subject or f'Message {i}'}"
            f"\r\nDate: Sat, 05 Dec 2026 10:{i % 60:02d}:00 +0000\r\nMessage-ID: <m{i}@x>\r\n"
            f"Content-Type: {ctype}; charset=utf-8\r\n\r\n{body}\r\n").encode()
