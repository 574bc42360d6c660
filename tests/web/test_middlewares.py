"""Errors as JSON with the manual's statuses, CORS everywhere, OPTIONS, body limits, 500s."""

from __future__ import annotations

import asyncio
import io
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rmail.config import Config
from rmail.services import build_services
from rmail.web.api.base import JSON_LIMIT
from rmail.web.app import create_app
from tests.web.conftest import Api

CORS = "Access-Control-Allow-Origin"


async def test_cors_headers_on_every_response(api: Api) -> None:
    for method, path, user in (("GET", "/healthz", None), ("GET", "/folders", "alice"),
                               ("GET", "/folders", None), ("GET", "/nope", None),
                               ("GET", "/admin/users", "alice")):
        reply = await api.call(method, path, user=user)
        assert reply.headers[CORS] == "*", (method, path)
        assert "Authorization" in reply.headers["Access-Control-Allow-Headers"]
    raw = await api.call("GET", "/folders/INBOX/messages/1", user="alice")
    assert raw.headers[CORS] == "*"


async def test_preflight_is_204(api: Api) -> None:
    for path in ("/folders", "/folders/INBOX/messages", "/admin/users/x", "/anything/at/all"):
        reply = await api.call("OPTIONS", path, headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert reply.status == 204, path
        assert reply.headers[CORS] == "*"
        assert "PATCH" in reply.headers["Access-Control-Allow-Methods"]
        assert reply.body == b""


async def test_options_asterisk(api: Api) -> None:
    host, port = api.address
    reader, writer = await asyncio.open_connection(host, port, ssl=api.ssl,
                                                   server_hostname="localhost")
    writer.write(b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    head = response.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.1 204")
    assert "Access-Control-Allow-Origin: *" in head


async def test_unknown_route_and_method_are_json(api: Api) -> None:
    missing = await api.call("GET", "/no/such/thing")
    assert (missing.status, missing.error) == (404, "Not Found")
    wrong = await api.call("PUT", "/folders", user="alice")
    assert wrong.status == 405
    assert wrong.error
    assert "GET" in wrong.headers["Allow"]


async def test_oversized_json_body_is_413(api: Api) -> None:
    body = b'{"username": "' + b"a" * JSON_LIMIT + b'", "password": "x"}'
    reply = await api.call("POST", "/auth/login", data=io.BytesIO(body),
                           headers={"Content-Type": "application/json"})
    assert reply.status == 413
    assert reply.error


async def test_chunked_oversized_body_is_413(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(JSON_LIMIT // 65536 + 2):
            yield b" " * 65536

    reply = await api.call("POST", "/auth/login", data=chunks(),
                           headers={"Content-Type": "application/json"})
    assert reply.status == 413


@pytest.fixture
async def boom_server(tmp_config: Config) -> AsyncIterator[str]:
    """The real app with one extra route that fails, served over plain HTTP."""
    app = create_app(tmp_config, core=build_services(tmp_config))

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError(f"secret detail {tmp_config.mail_root}")

    async def store_path_leak(request: web.Request) -> web.Response:
        from rmail.store.errors import NotFound

        raise NotFound(f"folder index {tmp_config.mail_root}/x/index.jsonl is missing")

    async def dav(request: web.Request) -> web.Response:
        raise web.HTTPPreconditionFailed(text="<error/>", content_type="application/xml")

    app.router.add_get("/boom", boom)
    app.router.add_get("/leak", store_path_leak)
    app.router.add_get("/dav", dav)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_500_leaks_nothing(boom_server: str, caplog: pytest.LogCaptureFixture) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(boom_server + "/boom") as response:
            assert response.status == 500
            assert await response.json() == {"error": "Internal server error"}
            assert response.headers[CORS] == "*"
        async with session.get(boom_server + "/leak") as response:
            assert response.status == 404
            assert await response.json() == {"error": "Not found"}
        async with session.get(boom_server + "/dav") as response:  # DAV bodies pass through
            assert response.status == 412
            assert await response.text() == "<error/>"
    assert "secret detail" in caplog.text  # logged for the operator, not shown


def test_ssl_module_available() -> None:
    assert ssl.OPENSSL_VERSION
