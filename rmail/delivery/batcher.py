"""Hands jobs from the event loop to worker threads in batches, and their results back.

Why: the delivery pipeline's store work (resolution, quota, appends) must not run on the event
loop, and one thread trip per message cost as much as the store work itself (see `Batcher`).
Batching also feeds the store's group commit (`rmail.store.groupcommit`) bigger batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["BATCH_RUNNERS", "IDLE_SECONDS", "MAX_BATCH", "Batcher"]

log = logging.getLogger(__name__)

# Delivery batches in flight at once (see `Batcher`). One: while it waits for its fsync the
# next deliveries pile up and make one bigger batch. Four alternating quiet-machine runs of
# bench/smtp.py gave 0.36-0.59 (MX, 10 sessions) and 0.66-0.84 (LMTP) with one runner against
# 0.37-0.40 and 0.61-0.70 with three, at less CPU per message.
BATCH_RUNNERS = 1
MAX_BATCH = 256  # messages per batch
# How long an idle runner waits for the next job before it gives its pool thread back (and a
# pool shutdown waits at most this long for it).
IDLE_SECONDS = 1.0

J = TypeVar("J")
R = TypeVar("R")


class Batcher(Generic[J, R]):
    """Runs ``fn`` on batches of jobs in worker threads: a delivery costs the event loop a
    list append, and a batch one wake-up of the loop to hand back its results.

    A trip to a thread per message (the usual ``run_in_executor``) cost the loop a thread
    wake-up, two futures and a wake-up of its own, and each worker thread fought the loop
    for the GIL; that overhead was as large as the store work itself. Here up to
    `BATCH_RUNNERS` runner threads each take everything queued, run it, post the results
    and look again, so under load no thread is woken per message at all. While one runner
    waits for its fsync the next stages its batch, and both meet in the store's group
    commit. ``_lock`` makes "queue empty, so this runner stops" and "a runner is still
    there, so no need to start one" exclusive (no job is ever left behind).

    A runner with nothing to do waits up to `IDLE_SECONDS` for more, so the loop wakes it
    with a put on a C queue instead of submitting a new runner to the pool per batch
    (``ThreadPoolExecutor.submit`` is a dozen Python calls on the loop: about 5 % of a
    delivering worker's event-loop time with a batch every two or three messages).
    ``_idle`` (under ``_lock``) says a runner is waiting and no wake-up is on its way, so
    exactly one is sent per wait.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 executor: Callable[[], ThreadPoolExecutor],
                 fn: Callable[[list[J]], list[R]]) -> None:
        self._loop = loop
        self._executor = executor
        self._fn = fn
        self._queue: list[tuple[J, asyncio.Future[R]]] = []
        self._lock = threading.Lock()
        self._runners = 0
        self._idle = False
        self._wake: queue.SimpleQueue[None] = queue.SimpleQueue()

    async def submit(self, job: J) -> R:
        future: asyncio.Future[R] = self._loop.create_future()
        with self._lock:
            self._queue.append((job, future))
            wake = self._idle
            self._idle = False
            start = not wake and self._runners < BATCH_RUNNERS
            if start:
                self._runners += 1
        if wake:
            self._wake.put(None)
        elif start:
            try:
                self._executor().submit(self._run)
            except BaseException:  # the executor was shut down: this job will not run
                with self._lock:
                    self._runners -= 1
                    with contextlib.suppress(ValueError):
                        self._queue.remove((job, future))
                raise
        return await future

    def _run(self) -> None:
        """A runner thread: batches until the queue has been empty for `IDLE_SECONDS`."""
        while True:
            with self._lock:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                if not batch:
                    self._idle = True
            if not batch:
                if not self._wait():
                    return
                continue
            try:
                results: list[R | BaseException] = list(self._fn([job for job, _ in batch]))
            except Exception as exc:  # a bug: fail this batch's deliveries, not the process
                log.exception("a delivery batch failed")
                results = [exc] * len(batch)
            done = [(future, result)
                    for (_, future), result in zip(batch, results, strict=True)]
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                self._loop.call_soon_threadsafe(_resolve, done)

    def _wait(self) -> bool:
        """Wait for a wake-up; False when none came and this runner has stopped."""
        try:
            self._wake.get(timeout=IDLE_SECONDS)
            return True
        except queue.Empty:
            pass
        with self._lock:
            if self._idle:  # nobody is waking this runner: it stops
                self._idle = False
                self._runners -= 1
                return False
        self._wake.get()  # a submit took the wait just now: its wake-up is on its way
        return True


def _resolve(done: list[tuple[asyncio.Future[R], R | BaseException]]) -> None:
    for future, result in done:
        if future.done():  # the waiter was cancelled
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
