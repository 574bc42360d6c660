"""CalDAV/CardDAV test harness: the real app (`create_app`) on a temporary mail root, two users
(alice, bob) in example.com, and a small DAV client that speaks raw XML."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from rmail.auth import create_user
from rmail.config import Config
from rmail.services import Services, build_services
from rmail.web.app import create_app


def _fixtures() -> Path:
    """`../shared/fixtures` beside the checkout (CI); from a git worktree, the team's copy."""
    beside = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
    team = Path("/work/shared/fixtures")
    return beside if beside.is_dir() or not team.is_dir() else team


FIXTURES = _fixtures()
DOMAIN = "example.com"
PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}


def basic(user: str, password: str | None = None) -> str:
    token = f"{user}@{DOMAIN}:{password or PASSWORDS[user]}".encode()
    return "Basic " + base64.b64encode(token).decode()


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Dav:
    """Raw requests as one user; `as_user` switches identity."""

    def __init__(self, client: TestClient, services: Services, user: str = "alice") -> None:
        self.client = client
        self.services = services
        self.user = user

    def as_user(self, user: str) -> Dav:
        return Dav(self.client, self.services, user)

    @property
    def home(self) -> str:
        return f"/caldav/{self.user}/calendars/"

    def cal(self, name: str = "default") -> str:
        return f"{self.home}{name}/"

    async def request(self, method: str, path: str, body: bytes | str | None = None,
                      headers: dict[str, str] | None = None, auth: bool = True) -> Reply:
        hdrs = dict(headers or {})
        if auth:
            hdrs.setdefault("Authorization", basic(self.user))
        data: Any = body.encode() if isinstance(body, str) else body
        if data is not None and len(data) > 1024 * 1024:
            data = io.BytesIO(data)  # aiohttp warns on large raw bodies
        resp: ClientResponse
        async with self.client.request(method, path, data=data, headers=hdrs,
                                       allow_redirects=False) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def put(self, path: str, ics: bytes | str, **headers: str) -> Reply:
        hdrs = {"Content-Type": "text/calendar; charset=utf-8"}
        hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
        return await self.request("PUT", path, ics, hdrs)

    async def report(self, path: str, body: str, depth: str = "1") -> Reply:
        return await self.request("REPORT", path, body,
                                  {"Depth": depth, "Content-Type": "application/xml"})

    async def propfind(self, path: str, body: str = "", depth: str = "0") -> Reply:
        return await self.request("PROPFIND", path, body or None,
                                  {"Depth": depth, "Content-Type": "application/xml"})


@pytest.fixture
async def services(tmp_config: Config) -> Services:
    for user, password in PASSWORDS.items():
        await create_user(tmp_config.mail_root, user, DOMAIN, password)
    return build_services(tmp_config)


@pytest.fixture
async def dav(tmp_config: Config, services: Services) -> AsyncIterator[Dav]:
    app = create_app(tmp_config, core=services)
    async with TestClient(TestServer(app)) as client:
        yield Dav(client, services)


def event(uid: str, start: str = "20240105T100000Z", end: str = "20240105T110000Z",
          summary: str = "Meeting", extra: str = "") -> str:
    """A minimal VEVENT object; `extra` lines go inside the VEVENT."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20240101T000000Z", f"DTSTART:{start}"]
    if end:
        lines.append(f"DTEND:{end}")
    lines.append(f"SUMMARY:{summary}")
    if extra:
        lines.extend(extra.strip().splitlines())
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def hrefs(reply: Reply) -> list[str]:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(reply.body)
    return [h.text or "" for h in root.iter("{DAV:}href")
            if h is not None and any(True for _ in [h])]


def response_hrefs(reply: Reply) -> list[str]:
    """The href of every top-level D:response."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(reply.body)
    return [r.findtext("{DAV:}href") or "" for r in root.findall("{DAV:}response")]
