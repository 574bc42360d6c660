"""Start every enabled listener, serve until SIGTERM/SIGINT, stop gracefully.

Startup runs in three phases, so a problem stops everything before anything serves:

1. prepare: create ``mail_root`` and the configured domains, ensure the TLS certificate;
2. bind: open a listening socket for every enabled listener that has an implementation
   (a port conflict is a `StartupError` naming the listener and address);
3. set up each listener from its factory, then start them all.

With ``workers`` > 1 (`Config.worker_count`) step 3 happens in worker processes instead: this
process becomes the supervisor (`rmail.supervisor`), which starts the workers over the sockets
bound in step 2, links them with the change bus (`rmail.bus`) and runs the singletons (outbound
queue, reminders). With 1 it serves every listener itself, singletons included. A worker runs
this same `Server` over the sockets it inherited (``sockets=``, ``worker=``), skipping steps 1-2.

Listener classes live in `rmail.listeners` (re-exported here).

Stopping is one task per server: every `stop` call (a signal, a failed start, a test's
teardown, two at once) awaits the same teardown, so none returns while another is still
draining. A stop that arrives while `start` runs first lets the start settle (within
`STOP_PHASE_SECONDS`, then cancels it), so nothing the start sets up afterwards escapes the
teardown. `request_stop` may be called from any thread: it wakes the server's own loop.

Protocols plug in through `LISTENER_FACTORIES`: a name from the config's ``listeners`` maps to
an async factory that receives a `ListenerContext` (with the socket already bound) and returns
a `Listener` that is not yet serving. An enabled listener with no factory is reported as
"not implemented yet, skipped" and binds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import ipaddress
import logging
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web

from rmail import __version__
from rmail.config import Config, ConfigError, ListenerConfig
from rmail.conntable import ConnectionTable
from rmail.heap import freeze_startup_objects, keep_freed_memory
from rmail.listeners import (
    BACKLOG,
    IMPLICIT_TLS,
    LISTENER_TLS,
    PLAIN,
    SHUTDOWN_GRACE,
    STARTTLS,
    AiohttpListener,
    Listener,
    ListenerContext,
    ListenerFactory,
    StartupError,
    StreamListener,
    bind_listener,
    format_address,
    tls_mode,
)
from rmail.services import Services, build_services
from rmail.store.accounts import Accounts
from rmail.store.quotaclaims import QuotaClaims
from rmail.tls import certificate_paths, ensure_certificate, server_context
from rmail.web.accesslog import ACCESS_LOG, AccessLogger
from rmail.web.keys import SERVICE_KEYS

if TYPE_CHECKING:
    from rmail.bus import BusHub, BusLink
    from rmail.supervisor import Supervisor

__all__ = [
    "BACKLOG",
    "IMPLICIT_TLS",
    "LISTENER_FACTORIES",
    "LISTENER_TLS",
    "PLAIN",
    "SHUTDOWN_GRACE",
    "STARTTLS",
    "AiohttpListener",
    "Listener",
    "ListenerContext",
    "ListenerFactory",
    "Server",
    "StartupError",
    "StreamListener",
    "bind_listener",
    "describe",
    "register_listener",
    "run",
    "serve",
    "tls_mode",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

# Longest wait for one phase of a stop (listeners' drain, background tasks, thread pools);
# the listeners' and the queue's own graces (10 s) fit inside it.
STOP_PHASE_SECONDS = 30.0


async def _bounded(phase: str, awaitable: Awaitable[T]) -> T | None:
    """Await one phase of a stop, giving up (logged) after `STOP_PHASE_SECONDS`."""
    try:
        return await asyncio.wait_for(awaitable, STOP_PHASE_SECONDS)
    except TimeoutError:
        log.error("stopping %s took longer than %.0f s; abandoned", phase, STOP_PHASE_SECONDS)
        return None

_format_address = format_address


async def http_listener(ctx: ListenerContext) -> Listener:
    """The ``http`` listener: the aiohttp app from `rmail.web.app.create_app` (imported here:
    a supervisor, which serves nothing itself, never loads the web areas)."""
    from rmail.web.app import create_app

    # The app takes the services it has keys for; others are for the mail listeners.
    services = {name: svc for name, svc in ctx.services.items() if name in SERVICE_KEYS}
    app = create_app(ctx.config, **services)
    access = ctx.config.listeners.http.access_log
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE,
                           access_log_class=AccessLogger,
                           access_log=ACCESS_LOG if access else None)
    await runner.setup()
    return AiohttpListener(runner, ctx.sock, ctx.implicit_ssl)


# Listener name -> factory, or "module:function" imported only when that listener is enabled
# (so protocol packages never import this module at import time). A protocol registers by
# adding one line here, e.g. "imap": "rmail.imap.listener:create_listener".
LISTENER_FACTORIES: dict[str, ListenerFactory | str] = {
    "http": http_listener,
    "smtp": "rmail.smtp.listener:smtp_listener",
    "submission": "rmail.smtp.listener:submission_listener",
    "submissions": "rmail.smtp.listener:submission_listener",
    "lmtp": "rmail.smtp.listener:lmtp_listener",
    "imap": "rmail.imap.listener:create_listener",
    "imaps": "rmail.imap.listener:create_listener",
    "pop3": "rmail.pop3.listener:create_listener",
    "pop3s": "rmail.pop3.listener:create_listener",
}


def register_listener(name: str, factory: ListenerFactory | str) -> None:
    """Register (or replace) the factory for listener ``name``."""
    if name not in LISTENER_TLS and name != "http":
        raise ValueError(f"unknown listener name {name!r}")
    LISTENER_FACTORIES[name] = factory


def _resolve(entry: ListenerFactory | str) -> ListenerFactory:
    if not isinstance(entry, str):
        return entry
    module, _, attr = entry.partition(":")
    factory: ListenerFactory = getattr(importlib.import_module(module), attr)
    return factory


class Server:
    """Owns the listeners of one rmail process (or, as supervisor, its workers); see the
    module docstring for the phases."""

    def __init__(
        self,
        config: Config,
        *,
        services: Mapping[str, object] | None = None,
        factories: Mapping[str, ListenerFactory | str] | None = None,
        sockets: Mapping[str, socket.socket] | None = None,
        worker: int | None = None,
        bus: BusLink | None = None,
        connections: ConnectionTable | None = None,
    ) -> None:
        self.config = config
        self.services: dict[str, object] = dict(services or {})
        self.factories = dict(LISTENER_FACTORIES if factories is None else factories)
        self.cert_path: Path | None = None
        self.key_path: Path | None = None
        self.addresses: dict[str, tuple[str, int]] = {}  # bound listeners, actual ports
        self.skipped: list[str] = []  # enabled but not implemented yet
        self.worker = worker  # this process's index as a worker of a supervisor, else None
        self.bus = bus  # a worker's link to the supervisor
        self.supervisor: Supervisor | None = None
        self._hub: BusHub | None = None
        self._inherited = dict(sockets) if sockets is not None else None
        self._sockets: dict[str, socket.socket] = {}
        self._started: list[Listener] = []
        self._background: Services | None = None
        self._owned: Services | None = None  # built here because none was given
        self._stop_requested = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop `start` ran on
        self._starting: asyncio.Task[None] | None = None
        self._stopping: asyncio.Task[None] | None = None
        # Per-IP connection counts across the workers: a worker is handed its handle, a single
        # process or a supervisor makes the table (and closes it at stop).
        self.connections = connections
        self._own_connections = connections is None
        self._quota: QuotaClaims | None = None  # the supervisor's shared quota table

    @property
    def workers(self) -> int:
        """Worker processes serving the listeners (1: this process serves them itself)."""
        return self.config.worker_count

    @property
    def core(self) -> Services:
        """The process's `Services` (given as ``services["core"]``, else built at start)."""
        core = self.services.get("core")
        if not isinstance(core, Services):
            raise RuntimeError("the server has not started: no Services yet")
        return core

    async def start(self) -> None:
        """Prepare, bind everything, set everything up, then start serving. A server that
        was stopped (or is stopping) cannot start again."""
        if self._stopping is not None:
            raise RuntimeError("the server has been stopped")
        if self._starting is not None:
            raise RuntimeError("the server has already been started")
        self._loop = asyncio.get_running_loop()
        self._starting = asyncio.ensure_future(self._start())
        try:
            await self._starting  # cancelling `start` cancels the setup too
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        if not isinstance(self.services.get("core"), Services):
            self._owned = await asyncio.to_thread(build_services, self.config)
            self.services["core"] = self._owned
        if self._inherited is None:
            cert, key = await asyncio.to_thread(self._prepare)
        else:  # a worker: the supervisor prepared everything, the certificate too
            cert, key = certificate_paths(self.config)
        self.cert_path, self.key_path = cert, key
        context = server_context(cert, key)

        plan: list[tuple[str, ListenerConfig, ListenerFactory | str]] = []
        for name, settings in self.config.listeners.enabled():
            entry = self.factories.get(name)
            if entry is None:
                self.skipped.append(name)
                if self.worker is None:
                    log.warning("%s: not implemented yet, skipped", name)
            else:
                plan.append((name, settings, entry))

        for name, settings, _ in plan:
            if self._inherited is not None:
                sock = self._inherited[name]
            else:  # several workers: a SO_REUSEPORT group, one socket per worker
                sock = bind_listener(name, settings, reuse_port=self.worker is None
                                     and self.workers > 1)
            self._sockets[name] = sock
            host, port = sock.getsockname()[:2]
            self.addresses[name] = (host, port)

        if self.connections is None:
            self.connections = ConnectionTable.create(
                self.workers if self.worker is None else 1)
        if self.worker is None and self.workers > 1:
            await self._start_supervisor()
            return

        listeners: list[Listener] = []
        for name, settings, entry in plan:
            ctx = ListenerContext(
                name=name,
                settings=settings,
                config=self.config,
                sock=self._sockets[name],
                tls_mode=tls_mode(name, settings),
                ssl_context=context,
                services=self.services,
                connections=self.connections,
            )
            listener = await _resolve(entry)(ctx)
            listeners.append(listener)
            self._started.append(listener)  # so stop() tears down a half-finished setup

        for listener in listeners:
            await listener.start()

        # background work: the outbound queue runner and reminders, unless a supervisor runs them
        await self.core.start(singletons=self.worker is None)
        self._background = self.core

    async def _start_supervisor(self) -> None:
        """Start the workers over the bound sockets, then the singletons here."""
        from rmail.bus import BusHub
        from rmail.supervisor import Supervisor

        core = self.core
        self._hub = BusHub(core)
        extra = {k: v for k, v in self.services.items() if k != "core"}
        assert self.connections is not None
        # one quota table for every process: row 0 is ours (the queue runner delivers bounces)
        self._quota = QuotaClaims.create(self.workers + 1)
        core.mail.share_claims(self._quota)
        self.supervisor = Supervisor(self.config, self._sockets, self._hub, self.workers,
                                     services=extra, factories=self.factories,
                                     connections=self.connections, quota=self._quota)
        await self.supervisor.start()
        await core.start(singletons=True)
        self._background = core

    def _prepare(self) -> tuple[Path, Path]:
        """Blocking startup work: data directory, configured domains, certificate."""
        config = self.config
        try:
            config.mail_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                config.source, "mail_root", f"cannot create {config.mail_root}: {exc}"
            ) from None
        accounts = Accounts(config.mail_root)
        for domain in config.domains:
            accounts.add_domain(domain, exist_ok=True)
        return ensure_certificate(config)

    async def stop(self) -> None:
        """Stop every listener (gracefully, in parallel) or every worker, and close every
        socket. Idempotent: every call waits for the one teardown (see the module
        docstring), also when the caller is cancelled meanwhile. Each phase has a deadline
        (`STOP_PHASE_SECONDS`): a drain that cannot finish is logged with its phase and
        abandoned, so SIGTERM always ends the process (acknowledged data is already durable;
        what is cut off was never answered)."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        starting = self._starting
        if starting is not None and not starting.done():
            # a stop during start: let the start finish (or fail), then undo all of it
            done, _ = await asyncio.wait([starting], timeout=STOP_PHASE_SECONDS)
            if not done:
                log.error("stopping: start did not finish within %.0f s; cancelled",
                          STOP_PHASE_SECONDS)
                starting.cancel()
                await asyncio.wait([starting])
        supervisor, self.supervisor = self.supervisor, None
        if supervisor is not None:
            await _bounded("workers", supervisor.stop())
        started, self._started = self._started, []
        results = await _bounded("listeners", asyncio.gather(
            *(listener.stop() for listener in reversed(started)), return_exceptions=True
        ))
        for result in results or ():
            if isinstance(result, BaseException):
                log.error("error while stopping a listener", exc_info=result)
        background, self._background = self._background, None
        if background is not None:
            await _bounded("background tasks", background.stop())
        sockets, self._sockets = self._sockets, {}
        for sock in sockets.values():
            sock.close()
        quota, self._quota = self._quota, None
        if quota is not None:
            self.core.mail.share_claims(QuotaClaims.local())
            quota.close()
        table, self.connections = self.connections, None
        if table is not None and self._own_connections:
            table.close()
        owned, self._owned = self._owned, None
        if owned is not None:
            await _bounded("thread pools", asyncio.to_thread(owned.close))

    def request_stop(self) -> None:
        """Ask `serve` to stop (what SIGTERM and SIGINT do). Safe from any thread: an
        `asyncio.Event` set off its loop's thread would not wake the waiting loop."""
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            self._stop_requested.set()
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing waits any more
            loop.call_soon_threadsafe(self._stop_requested.set)

    async def wait_stop_requested(self) -> None:
        await self._stop_requested.wait()

    def url(self, name: str = "http") -> str:
        """Base URL of a bound HTTP listener (``https://127.0.0.1:PORT/``)."""
        host, port = self.addresses[name]
        return _url(self.config, name, host, port)

    def describe(self) -> str:
        return describe(self.config, self.addresses, factories=self.factories,
                        pids=self.supervisor.pids if self.supervisor is not None else None)

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _url(config: Config, name: str, host: str, port: int) -> str:
    scheme = "https" if tls_mode(name, getattr(config.listeners, name)) == IMPLICIT_TLS else "http"
    try:
        unspecified = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        unspecified = False
    shown = config.hostname if unspecified else host
    return f"{scheme}://{_format_address(shown, port)}/"


def describe(
    config: Config,
    addresses: Mapping[str, tuple[str, int]] | None = None,
    *,
    factories: Mapping[str, object] | None = None,
    pids: Mapping[int, int] | None = None,
) -> str:
    """Every URL and port, one line each; ``addresses`` gives actual bound ports, ``pids``
    the worker processes of a supervisor."""
    addresses = addresses or {}
    factories = LISTENER_FACTORIES if factories is None else factories
    count = config.worker_count
    if count == 1:
        workers = "1 (single process)"
    elif pids:
        workers = f"{count} (pids {', '.join(str(p) for _, p in sorted(pids.items()))})"
    else:
        workers = str(count)
    lines = [
        f"rmail {__version__} on {config.hostname}",
        f"  {'data':<12} {config.mail_root}",
        f"  {'workers':<12} {workers}",
    ]
    # http first: it is what a person opens; then the mail listeners in config order.
    ordered = sorted(config.listeners.items(), key=lambda item: item[0] != "http")
    for name, settings in ordered:
        host, port = addresses.get(name, (settings.host, settings.port))
        mode = tls_mode(name, settings)
        if not settings.enabled:
            lines.append(f"  {name:<12} disabled")
        elif name not in factories:
            where = _format_address(host, port)
            lines.append(f"  {name:<12} {where:<22} {mode:<13} not implemented yet, skipped")
        elif name == "http":
            url = _url(config, name, host, port)
            lines.append(f"  {name:<12} {url}")
            lines.append(f"  {'healthz':<12} {url}healthz")
            lines.append(f"  {'webmail':<12} {url}webmail/")
        else:
            lines.append(f"  {name:<12} {_format_address(host, port):<22} {mode}")
    return "\n".join(lines)


@contextlib.contextmanager
def _stop_on_signals(server: Server) -> Iterator[None]:
    """SIGTERM/SIGINT request a graceful stop (only possible in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, server.request_stop)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def _print(text: str) -> None:
    print(text, flush=True)


Hook = Callable[[Server], object]


async def _call(hook: Hook | None, server: Server) -> None:
    if hook is not None:
        result = hook(server)
        if inspect.isawaitable(result):
            await result


async def serve(
    config: Config,
    *,
    ready: Hook | None = None,
    on_started: Hook | None = None,
    services: Mapping[str, object] | None = None,
    announce: Callable[[str], None] | None = _print,
    freeze_heap: bool = False,
) -> None:
    """Run the server until SIGTERM/SIGINT or `Server.request_stop`, then stop gracefully.

    Once every listener serves: ``announce`` gets `describe` with the bound ports, then
    ``on_started(server)`` runs (bootstrap output such as demo credentials), then
    ``ready(server)`` (tests and supervisors). Hooks may be sync or async. ``freeze_heap``
    (a process of its own: ``rmail serve``) keeps the collector off the objects made while
    starting and freed memory in the heap for reuse (`rmail.heap`).
    """
    server = Server(config, services=services)
    with _stop_on_signals(server):
        await server.start()
        if freeze_heap:
            freeze_startup_objects()
            keep_freed_memory()
        try:
            if announce is not None:
                announce(server.describe())
            await _call(on_started, server)
            await _call(ready, server)
            await server.wait_stop_requested()
            log.info("stopping")
        finally:
            await server.stop()


def run(config: Config, **kwargs: object) -> int:
    """Blocking entry point for ``rmail serve``; returns the process exit status."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    if config.worker_count > 1:
        from rmail.worker import set_title

        set_title("rmail: supervisor")
    try:
        asyncio.run(serve(config, freeze_heap=True, **kwargs))  # type: ignore[arg-type]
    except (StartupError, ConfigError) as exc:
        print(f"rmail: {exc}", file=sys.stderr)
        return 1
    return 0
