"""Shared fixtures: a config on a temporary mail_root, and servers started per test."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from rmail.config import LISTENER_NAMES, Config
from rmail.server import Server
from rmail.services import Services

# Property tests are judged on what they find, never on how fast an example runs: a shared or
# loaded CI machine must not turn Hypothesis' per-example deadline into a failure.
settings.register_profile("rmail", deadline=None)
settings.load_profile("rmail")

# Worker processes for servers whose config says "auto" (the default): 1 unless the run asks
# for more (CI runs the end-to-end suites again with RMAIL_TEST_WORKERS=2). A test that needs
# a given count sets `workers` to an integer.
TEST_WORKERS = int(os.environ.get("RMAIL_TEST_WORKERS", "1"))


def _test_worker_count(self: Config) -> int:
    return self.workers if isinstance(self.workers, int) else TEST_WORKERS


@pytest.fixture(autouse=True)
def _workers_for_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Config, "worker_count", property(_test_worker_count))


@pytest.fixture(autouse=True)
def _close_services(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every `Services` a test builds (fixtures hand one to `Server` or `create_app`, which do
    not own it) has its thread pools shut down once the test's own fixtures are torn down, so
    a long pytest process does not collect idle store and fsync threads. Autouse fixtures are
    set up first and torn down last: the servers have stopped by then."""
    built: list[Services] = []
    post_init = Services.__post_init__

    def tracked(self: Services) -> None:
        post_init(self)
        built.append(self)

    monkeypatch.setattr(Services, "__post_init__", tracked)
    yield
    for services in built:
        services.close()


def config_dict(mail_root: Path) -> dict[str, object]:
    """Every mail listener disabled on port 0, http enabled with TLS on port 0."""
    listeners: dict[str, dict[str, object]] = {
        name: {"enabled": False, "port": 0} for name in LISTENER_NAMES
    }
    listeners["http"] = {"enabled": True, "port": 0, "tls": True}
    return {"hostname": "localhost", "mail_root": str(mail_root), "listeners": listeners}


@pytest.fixture
def tmp_config(tmp_path: Path) -> Config:
    """A valid Config on ``tmp_path/mailstore``; enable a listener with
    ``tmp_config.with_overrides(listeners={"imap": {"enabled": True}})``."""
    return Config.from_dict(config_dict(tmp_path / "mailstore"), source="tmp_config")


@pytest.fixture
def unused_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (prefer port 0 where possible)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    """``server = await start_server(config, **services)``; stopped after the test."""
    servers: list[Server] = []

    async def start(config: Config, **services: object) -> Server:
        server = Server(config, services=services)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.stop()
