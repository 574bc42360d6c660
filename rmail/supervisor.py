"""The supervisor of a multi-process server (`workers` > 1): starts the worker processes over
the listening sockets it bound, restarts one that dies, stops them all on request.

Workers are started by fork+exec of ``python -m rmail.worker`` (`asyncio` subprocesses, safe from
a process that already runs threads) with the listening sockets and one end of a bus
`socketpair` passed as inherited descriptors; the rest of what a worker needs (the config, its
index, the descriptor numbers, picklable extra services) arrives pickled on its stdin.

Each worker accepts on its own listening socket per listener, all bound by the supervisor to
the same address with ``SO_REUSEPORT``, so the kernel spreads new connections evenly over the
workers by a hash of the client address and port. A single socket inherited by every worker
was measured first and rejected: each asyncio loop accepts everything queued when it wakes, so
the first worker to wake took all 20 of 20 concurrent connections. When a worker dies its
sockets are closed (connections queued on them but never accepted are reset, and the kernel
sends new ones to the other workers) and fresh ones are bound for its replacement.

Restarts back off: a worker that dies within `STABLE_SECONDS` of its start doubles the delay
before the next start (0.5 s up to `MAX_BACKOFF`), so a crash loop cannot spin; one that ran
longer restarts at once. On `stop` every worker gets SIGTERM (its graceful drain) and, after
`SHUTDOWN_GRACE` plus a margin, SIGKILL; nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rmail
from rmail.auth import passwords
from rmail.bus import BusHub
from rmail.config import Config, ListenerConfig
from rmail.conntable import ConnectionTable
from rmail.listeners import SHUTDOWN_GRACE, StartupError, bind_listener
from rmail.store.quotaclaims import QuotaClaims

__all__ = ["Supervisor", "WorkerSpec"]

log = logging.getLogger(__name__)

STARTUP_TIMEOUT = 60.0  # seconds a worker may take to import, build and start its listeners
STABLE_SECONDS = 10.0
MAX_BACKOFF = 30.0
STOP_MARGIN = 5.0  # beyond SHUTDOWN_GRACE before SIGKILL


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process receives on stdin."""

    config: Config
    index: int
    count: int
    sockets: dict[str, int]  # listener name -> inherited descriptor
    bus: int  # inherited descriptor of the worker's end of the bus
    connections: int  # inherited descriptor of the per-IP connection table (its row: index - 1)
    quota: int  # inherited descriptor of the quota table (its row: index)
    password_key: bytes  # the key of password-cache digests, shared (see rmail.auth.passwords)
    services: dict[str, Any]  # picklable extra services (e.g. IMAP limits in tests)
    factories: dict[str, Any]  # listener name -> factory (an import path or a module function)


@dataclass
class _Worker:
    index: int
    process: asyncio.subprocess.Process
    started: float
    watcher: asyncio.Task[None] | None = None


def picklable(items: Mapping[str, object]) -> dict[str, Any]:
    """Those of ``items`` that survive a trip through pickle (the others stay behind)."""
    kept: dict[str, Any] = {}
    for name, value in items.items():
        try:
            pickle.dumps(value)
        except Exception:
            continue
        kept[name] = value
    return kept


class Supervisor:
    """Starts ``count`` workers and keeps them running until `stop`."""

    def __init__(self, config: Config, sockets: Mapping[str, socket.socket], hub: BusHub,
                 count: int, *, services: Mapping[str, object] | None = None,
                 factories: Mapping[str, object] | None = None,
                 connections: ConnectionTable, quota: QuotaClaims) -> None:
        """``sockets`` are the server's bound sockets (with ``SO_REUSEPORT``): worker 1 starts
        on them; the others get sockets of their own, bound to the same ports. ``connections``
        has a row per worker; a dead worker's row is cleared before its replacement starts, and so
        is its row of ``quota`` (row 0 is the supervisor's own)."""
        self.config = config
        self.first: dict[str, socket.socket] | None = dict(sockets)
        self.ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
        self.slots: dict[int, dict[str, socket.socket]] = {}
        self.hub = hub
        self.count = count
        self.connections = connections
        self.quota = quota
        self.services = picklable(services or {})
        self.factories = picklable(factories or {})
        self.workers: dict[int, _Worker] = {}
        self.restarts = 0
        self._failures: dict[int, int] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def pids(self) -> dict[int, int]:
        """Worker index -> pid of the processes running now."""
        return {i: w.process.pid for i, w in self.workers.items() if w.process.returncode is None}

    async def start(self) -> None:
        """Start every worker and wait until each serves; a worker failing to start stops the
        others and raises `StartupError`."""
        try:
            await asyncio.gather(*(self._start_worker(i) for i in range(1, self.count + 1)))
        except BaseException:
            await self.stop()
            raise

    def _bind(self, index: int) -> dict[str, socket.socket]:
        """The listening sockets of worker ``index``: new ones joining each port's group."""
        if index == 1 and self.first is not None:
            first, self.first = self.first, None
            return first
        bound: dict[str, socket.socket] = {}
        try:
            for name, port in self.ports.items():
                settings: ListenerConfig = getattr(self.config.listeners, name)
                bound[name] = bind_listener(name, settings, port=port, reuse_port=True)
        except StartupError:
            for sock in bound.values():
                sock.close()
            raise
        return bound

    def _release(self, index: int) -> None:
        """Close a dead worker's sockets: what was queued on them is reset, and the kernel
        sends new connections to the other workers' sockets."""
        for sock in self.slots.pop(index, {}).values():
            sock.close()

    async def _start_worker(self, index: int) -> None:
        sockets = self.slots[index] = self._bind(index)
        quota_fd = self.quota.fd
        assert quota_fd is not None  # a shared table, not a private one
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fds = [s.fileno() for s in sockets.values()]
        fds += [theirs.fileno(), self.connections.fd, quota_fd]
        spec = WorkerSpec(self.config, index, self.count,
                          {name: s.fileno() for name, s in sockets.items()},
                          theirs.fileno(), self.connections.fd, quota_fd,
                          passwords.cache_key(), self.services, self.factories)
        env = dict(os.environ)
        root = str(Path(rmail.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            ready = await self.hub.attach(index, ours)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "rmail.worker", stdin=asyncio.subprocess.PIPE,
                pass_fds=fds, env=env)
        finally:
            theirs.close()
        worker = _Worker(index, process, time.monotonic())
        self.workers[index] = worker
        assert process.stdin is not None
        process.stdin.write(pickle.dumps(spec))
        with contextlib.suppress(ConnectionError):
            await process.stdin.drain()
        process.stdin.close()
        exited = asyncio.ensure_future(process.wait())
        done, _ = await asyncio.wait({ready, exited}, timeout=STARTUP_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            exited.cancel()
            if process.returncode is None:
                process.kill()
                await process.wait()
            status = _status(process.returncode)
            raise StartupError(f"worker {index} did not start ({status})")
        exited.cancel()
        log.info("worker %d serving (pid %d)", index, process.pid)
        worker.watcher = asyncio.create_task(self._watch(worker), name=f"rmail-watch-{index}")
        self._watchers.add(worker.watcher)
        worker.watcher.add_done_callback(self._watchers.discard)

    async def _watch(self, worker: _Worker) -> None:
        """Wait for the worker to end; restart it (with backoff) unless we are stopping."""
        code = await worker.process.wait()
        if self._stopping:
            return
        await self.hub.detach(worker.index)
        self._release(worker.index)
        # its clients' connections died with it: give their per-IP slots back now
        self.connections.clear_row(worker.index - 1)
        self.quota.clear_row(worker.index)  # and its quota claims in flight
        ran = time.monotonic() - worker.started
        failures = self._failures[worker.index] = \
            self._failures.get(worker.index, 0) + 1 if ran < STABLE_SECONDS else 1
        delay = 0.0 if failures <= 1 else min(MAX_BACKOFF, 0.5 * 2 ** (failures - 2))
        log.warning("worker %d (pid %d) ended (%s) after %.1f s; restarting in %.1f s",
                    worker.index, worker.process.pid, _status(code), ran, delay)
        while not self._stopping:
            await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                await self._start_worker(worker.index)
                self.restarts += 1
                return
            except StartupError as exc:
                delay = min(MAX_BACKOFF, max(0.5, delay * 2))
                log.error("%s; retrying in %.1f s", exc, delay)

    async def stop(self) -> None:
        """SIGTERM every worker (each drains gracefully), SIGKILL what is left after the grace
        period, and wait for all of them. Idempotent."""
        self._stopping = True
        watchers = list(self._watchers)  # first: a restart in progress must not start more
        for task in watchers:
            task.cancel()
        for task in watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        workers = list(self.workers.values())
        for worker in workers:
            if worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
        waits = [asyncio.ensure_future(w.process.wait()) for w in workers]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=SHUTDOWN_GRACE + STOP_MARGIN)
            if pending:
                for worker in workers:
                    if worker.process.returncode is None:
                        log.warning("worker %d did not stop in time: killed", worker.index)
                        with contextlib.suppress(ProcessLookupError):
                            worker.process.kill()
                await asyncio.wait(waits)
        self.workers.clear()
        for index in list(self.slots):
            self._release(index)
        await self.hub.close()


def _status(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"
