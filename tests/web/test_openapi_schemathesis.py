"""Schemathesis against `/docs/openapi.json`: generated requests for every operation, no 500s,
every response conforming to the document (status, content type, schema).

The server runs in a thread with its own event loop because schemathesis drives it with a
synchronous client. Bounded in time: a few examples per operation.
"""

from __future__ import annotations

import asyncio
import http.client
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.requests import REQUESTS_TRANSPORT, binary_serializer

from rmail.config import Config
from rmail.server import Server
from rmail.services import build_services
from rmail.web.docs.openapi import build_spec
from tests.conftest import config_dict
from tests.web.conftest import DOMAIN, password_of

# Appending takes raw message bytes: serialise generated bodies as binary.
REQUESTS_TRANSPORT.serializer("message/rfc822")(binary_serializer)
# The live update stream never ends by itself (tests/web/mailapi/test_updates.py covers it).
schema = schemathesis.openapi.from_dict(build_spec()).exclude(path="/users/{user}/updates")
# The checks that judge the one response. Left out: those that send extra requests of their
# own (schemathesis' requests transport, see `send`; tests/web covers auth and methods), and
# positive_data_acceptance: names (folders, users, flags) have rules the schema only
# describes in words (no control characters, no empty or `..` levels...), so schema-valid
# input can rightly be refused with 400.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


@dataclass
class Live:
    url: str
    token: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, template_store: Path) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("schemathesis") / "mailstore"
    shutil.copytree(template_store, root)
    raw = config_dict(root)
    raw["listeners"]["http"]["tls"] = False  # type: ignore[index]
    config = Config.from_dict({**raw, "domains": [DOMAIN], "max_message_bytes": 100_000})
    ready = threading.Event()
    state: dict[str, object] = {}

    async def main() -> None:
        server = Server(config, services={"core": build_services(config)})
        await server.start()
        stop = asyncio.Event()
        state.update(url=server.url(), loop=asyncio.get_running_loop(), stop=stop)
        ready.set()
        await stop.wait()
        await server.stop()

    def run() -> None:
        try:
            asyncio.run(main())
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="schemathesis-server", daemon=True)
    thread.start()
    assert ready.wait(60) and "url" in state, "server did not start"
    url = str(state["url"]).rstrip("/")
    reply = requests.post(url + "/auth/login", timeout=60,
                          json={"username": "admin", "password": password_of("admin"),
                                "domain": DOMAIN})
    assert reply.status_code == 200
    yield Live(url, reply.json()["token"])
    loop = state["loop"]
    assert isinstance(loop, asyncio.AbstractEventLoop)
    loop.call_soon_threadsafe(state["stop"].set)  # type: ignore[attr-defined]
    thread.join(60)


def test_spec_served_matches(live: Live) -> None:
    served = requests.get(live.url + "/docs/openapi.json", timeout=60).json()
    assert served == build_spec()


def send(prepared: requests.PreparedRequest) -> schemathesis.Response:
    """Send with the stdlib client. (schemathesis' own `requests` transport breaks when
    urllib3-future, pulled in by niquests, replaces urllib3 in the environment.)"""
    url = urlsplit(prepared.url or "")
    target = url.path + (f"?{url.query}" if url.query else "")
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    started = time.monotonic()
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    try:
        conn.request(prepared.method or "GET", target, body=body,
                     headers=dict(prepared.headers))
        reply = conn.getresponse()
        content = reply.read()
        headers: dict[str, list[str]] = {}
        for name, value in reply.getheaders():
            headers.setdefault(name.lower(), []).append(value)
    finally:
        conn.close()
    return schemathesis.Response(status_code=reply.status, headers=headers, content=content,
                                 request=prepared, elapsed=time.monotonic() - started,
                                 verify=False, message=reply.reason)


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms(case: Any, live: Live) -> None:
    headers = {"Authorization": f"Bearer {live.token}"}
    kwargs = case.as_transport_kwargs(base_url=live.url, headers=headers)
    allowed = ("method", "url", "headers", "params", "data", "json", "files", "cookies")
    prepared = requests.Request(**{k: v for k, v in kwargs.items() if k in allowed}).prepare()
    case.validate_response(send(prepared), headers=headers, checks=CHECKS)
