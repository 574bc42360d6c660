"""The retention sweeper: a server singleton (`Services.start(singletons=True)`, so in the
single process or the supervisor, never in a worker) that runs `RetentionStore.sweep` over
every user every `retention.sweep_seconds`, expunging at most `retention.batch` messages per
run (a run that hits the limit is followed by the next one a second later, so a backlog drains in
bounded steps without starving the loop: the sweep itself runs on the store's threads).

Expunges go through the mail store, so IMAP sessions see EXPUNGE (or VANISHED) as for any
other client's expunge, in every worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rmail.store.accounts import Accounts
from rmail.store.retention import RetentionStore, SweepResult

__all__ = ["RetentionTask"]

log = logging.getLogger("rmail.retention")


class RetentionTask:
    """Runs the sweep periodically; `run_once` for tests and `rmail` tooling."""

    def __init__(self, store: RetentionStore, accounts: Accounts, *, interval: float,
                 batch: int, run: Callable[..., Awaitable[Any]]) -> None:
        self.store = store
        self.accounts = accounts
        self.interval = interval
        self.batch = batch
        self._run = run  # `Services.run`: store work off the loop
        self.runs = 0
        self.last: SweepResult | None = None

    def users(self) -> list[tuple[str, str]]:
        """Every (domain, username) of the server (blocking: on a thread)."""
        return [(a.domain, a.username) for d in self.accounts.domains()
                for a in self.accounts.users(d)]

    def sweep_now(self) -> SweepResult:
        """One bounded run over every user (blocking: call it on a thread)."""
        return self.store.sweep(self.users(), self.batch)

    async def run_once(self) -> SweepResult:
        result: SweepResult = await self._run(self.sweep_now)
        self.runs += 1
        self.last = result
        if result.expunged:
            log.info("retention: expunged %d messages in %d folders of %d users%s",
                     result.expunged, result.folders, result.users,
                     "" if result.complete else " (more next run)")
        return result

    async def run_forever(self) -> None:
        """The singleton's loop (`Services.start` runs it as a task and cancels it)."""
        # The first run waits one period: a server restarted in a loop does not sweep each
        # time, and the data of the minutes after a start are the same as before it.
        await asyncio.sleep(self.interval)
        while True:
            try:
                result = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention sweep failed")
                result = SweepResult()
            await asyncio.sleep(self.interval if result.complete else min(1.0, self.interval))
