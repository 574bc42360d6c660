"""Fixtures: ``make_env(**config_overrides)`` starts rmail's mail listeners on a fresh store
with users bob and alice (password `PASSWORD`); stopped after the test. Mail for
``remote.example`` is routed to a closed port, so it stays in the queue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.mailenv import MailEnv, mail_config, start_env

MakeEnv = Callable[..., Awaitable[MailEnv]]


@pytest.fixture
async def make_env(tmp_path: Path) -> AsyncIterator[MakeEnv]:
    envs: list[MailEnv] = []

    async def make(**overrides: Any) -> MailEnv:
        # remote.example goes nowhere (port 9 refuses): queued mail stays queued, no DNS.
        overrides.setdefault("relay", {"routes": {"remote.example": "127.0.0.1:9"}})
        env = await start_env(mail_config(tmp_path / f"mailstore{len(envs)}", **overrides))
        env.add_user("bob")
        env.add_user("alice")
        envs.append(env)
        return env

    yield make
    for env in reversed(envs):
        await env.stop()


@pytest.fixture
async def env(make_env: MakeEnv) -> MailEnv:
    return await make_env()


class BareListener:
    """What a session asks of its listener (`rmail.smtp.listener.SmtpListener`), for tests
    that serve `RmailSMTP` sessions on a socket of their own."""

    deliveries = 0

    def admit(self, session: Any, transport: Any) -> bool:
        return True

    def release(self, session: Any) -> None:
        pass

    def delivery_done(self) -> None:
        pass
