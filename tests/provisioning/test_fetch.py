"""The periodic fetch from a local HTTPS server: applied when changed, one request when not,
and nothing changed by a server that hangs, answers garbage, 500 or an invalid document, or
presents a certificate that does not verify."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from rmail.config import Config
from rmail.provisioning.task import FetchError, ProvisioningTask
from rmail.services import build_services
from rmail.store.accounts import Accounts
from rmail.tls import generate_self_signed, server_context
from tests.conftest import config_dict
from tests.provisioning.conftest import SEED_DOCUMENT, document


@dataclass
class DocServer:
    url: str
    ca_file: Path
    mode: str = "ok"
    body: bytes = SEED_DOCUMENT
    etag: bool = True
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def doc_server(tmp_path: Path) -> AsyncIterator[DocServer]:
    cert, key = generate_self_signed("localhost")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    state = DocServer("", tmp_path / "cert.pem")

    async def handler(request: web.Request) -> web.StreamResponse:
        state.requests.append(dict(request.headers))
        if state.mode == "hang":
            await asyncio.sleep(3600)
        if state.mode == "500":
            return web.Response(status=500, text="oops")
        if state.mode == "garbage":
            return web.Response(body=b"\x00<html>not json", content_type="application/json")
        tag = f'"{hash(state.body) & 0xFFFFFFFF:x}"'
        if state.etag and request.headers.get("If-None-Match") == tag:
            return web.Response(status=304)
        headers = {"ETag": tag} if state.etag else {}
        return web.Response(body=state.body, content_type="application/json", headers=headers)

    app = web.Application()
    app.router.add_get("/provisioning.json", handler)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0,
                       ssl_context=server_context(tmp_path / "cert.pem", tmp_path / "key.pem"))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"https://localhost:{port}/provisioning.json"
    yield state
    await runner.cleanup()


def make_task(tmp_path: Path, server: DocServer, *, ca: bool = True, prune: bool = False,
              timeout: float = 10.0) -> ProvisioningTask:
    raw = config_dict(tmp_path / "mailstore")
    raw["provisioning"] = {"url": server.url, "interval": 1, "prune": prune,
                           "ca_file": str(server.ca_file) if ca else None}
    config = Config.from_dict(raw)
    accounts = Accounts(config.mail_root)
    services = build_services(config, accounts=accounts)  # its pools: closed by conftest
    return ProvisioningTask(config, accounts, run=services.run, timeout=timeout)


async def test_applied_then_unchanged_costs_one_request(tmp_path: Path,
                                                        doc_server: DocServer) -> None:
    task = make_task(tmp_path, doc_server)
    report = await task.fetch_and_apply()
    assert report is not None and report.summary == "created 4, updated 0, removed 0, unchanged 0"
    accounts = task.provisioner.store.accounts
    gen = accounts.generation()
    assert await task.fetch_and_apply() is None            # 304 Not Modified
    assert doc_server.requests[-1]["If-None-Match"]
    doc_server.etag = False
    assert await task.fetch_and_apply() is None            # 200, same bytes: hash compared
    assert len(doc_server.requests) == 3 and accounts.generation() == gen
    # a restarted server remembers the last document too (provisioning/state.json)
    again = make_task(tmp_path, doc_server)
    assert await again.fetch_and_apply() is None and len(doc_server.requests) == 4


async def test_changes_are_applied_with_prune(tmp_path: Path, doc_server: DocServer) -> None:
    task = make_task(tmp_path, doc_server, prune=True)
    await task.fetch_and_apply()
    doc_server.body = document({"example.com": {"account": [
        {"name": "bob", "password": "$1$0MhHZVnG$d6rHD1KFLNOJ9EFdMKrB91"}]}})
    report = await task.fetch_and_apply()
    assert report is not None and report.summary == "created 0, updated 0, removed 2, unchanged 1"
    assert task.provisioner.store.accounts.find_address("alice@example.com") is None


@pytest.mark.parametrize("mode", ["hang", "garbage", "500", "invalid", "untrusted"])
async def test_failures_change_nothing_and_are_retried(tmp_path: Path, doc_server: DocServer,
                                                       mode: str) -> None:
    await make_task(tmp_path, doc_server).fetch_and_apply()
    task = make_task(tmp_path, doc_server, ca=mode != "untrusted", timeout=1.0)
    accounts = task.provisioner.store.accounts
    gen = accounts.generation()
    state = task.provisioner.store.read_state()
    doc_server.mode = mode if mode in ("hang", "garbage", "500") else "ok"
    doc_server.body = SEED_DOCUMENT.replace(b'"bob"', b'"bob", "quota": 1') \
        if mode == "invalid" else SEED_DOCUMENT.replace(b'"office"', b'"team"')
    with pytest.raises(FetchError) as caught:
        await task.fetch_and_apply()
    expected = {"hang": "no complete answer", "garbage": "not valid JSON", "500": "HTTP 500",
                "invalid": "account[1].quota: unknown key", "untrusted": "certificate"}[mode]
    assert expected in str(caught.value)
    assert accounts.generation() == gen and task.provisioner.store.read_state() == state
    # the next round, with the server fixed, applies the document
    doc_server.mode = "ok"
    doc_server.body = SEED_DOCUMENT.replace(b'"office"', b'"team"')
    fixed = make_task(tmp_path, doc_server)
    report = await fixed.fetch_and_apply()
    assert report is not None and report.lines()[0] == "+ alias team@example.com"


async def test_the_periodic_task_retries_until_it_applies(tmp_path: Path,
                                                          doc_server: DocServer) -> None:
    doc_server.mode = "500"
    task = make_task(tmp_path, doc_server)
    await task.start()
    try:
        deadline = time.monotonic() + 60
        while len(doc_server.requests) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert task.last_error is not None and "HTTP 500" in task.last_error
        assert task.provisioner.store.accounts.domains() == []
        doc_server.mode = "ok"
        while task.last_report is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert task.last_report is not None and task.last_error is None
        assert task.provisioner.store.accounts.find_address("bob@example.com")
    finally:
        await task.stop()
