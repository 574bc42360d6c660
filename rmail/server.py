"""Start every enabled listener, serve until SIGTERM/SIGINT, stop gracefully.

Startup runs in three phases, so a problem stops everything before anything serves:

1. prepare: create ``mail_root`` and the configured domains, ensure the TLS certificate;
2. bind: open a listening socket for every enabled listener that has an implementation
   (a port conflict is a `StartupError` naming the listener and address);
3. set up each listener from its factory, then start them all.

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
import ssl
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aiohttp import web

from rmail import __version__
from rmail.config import Config, ConfigError, ListenerConfig
from rmail.services import Services, build_services
from rmail.store.accounts import Accounts
from rmail.tls import ensure_certificate, server_context
from rmail.web.accesslog import ACCESS_LOG, AccessLogger
from rmail.web.app import create_app
from rmail.web.keys import SERVICE_KEYS

__all__ = [
    "IMPLICIT_TLS",
    "LISTENER_FACTORIES",
    "LISTENER_TLS",
    "PLAIN",
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
]

log = logging.getLogger(__name__)

STARTTLS = "STARTTLS"
IMPLICIT_TLS = "implicit TLS"
PLAIN = "plain"

# How each mail listener offers TLS (the http listener follows `listeners.http.tls`).
LISTENER_TLS: dict[str, str] = {
    "smtp": STARTTLS,
    "submission": STARTTLS,
    "submissions": IMPLICIT_TLS,
    "lmtp": PLAIN,
    "imap": STARTTLS,
    "imaps": IMPLICIT_TLS,
    "pop3": STARTTLS,
    "pop3s": IMPLICIT_TLS,
}

BACKLOG = 128
SHUTDOWN_GRACE = 10.0  # seconds open requests/sessions get to finish on stop


class StartupError(RuntimeError):
    """The server could not start (nothing is left serving or bound)."""


@dataclass(frozen=True)
class ListenerContext:
    """Everything a listener factory gets: its settings and a socket already bound."""

    name: str
    settings: ListenerConfig
    config: Config
    sock: socket.socket
    tls_mode: str
    ssl_context: ssl.SSLContext
    services: Mapping[str, object] = field(default_factory=dict)

    @property
    def implicit_ssl(self) -> ssl.SSLContext | None:
        """The context to wrap accepted connections in, or None (plain or STARTTLS)."""
        return self.ssl_context if self.tls_mode == IMPLICIT_TLS else None


class Listener(Protocol):
    """A set-up listener: `start` begins accepting, `stop` drains and closes."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


ListenerFactory = Callable[[ListenerContext], Awaitable[Listener]]


class AiohttpListener:
    """Serves an aiohttp `AppRunner` on a pre-bound socket."""

    def __init__(
        self, runner: web.AppRunner, sock: socket.socket, ssl_context: ssl.SSLContext | None
    ) -> None:
        self._runner = runner
        self._sock = sock
        self._ssl_context = ssl_context

    async def start(self) -> None:
        site = web.SockSite(self._runner, self._sock, ssl_context=self._ssl_context)
        await site.start()

    async def stop(self) -> None:
        await self._runner.cleanup()  # stops accepting, waits up to shutdown_timeout


StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class StreamListener:
    """A line-protocol listener on asyncio streams (for IMAP, POP3 and friends).

    On `stop` it stops accepting, gives open sessions ``grace`` seconds to end, then
    cancels them; a handler that wants to say goodbye (IMAP ``* BYE``) catches
    `asyncio.CancelledError`, writes, and re-raises.
    """

    def __init__(self, ctx: ListenerContext, handler: StreamHandler, grace: float = SHUTDOWN_GRACE):
        self._ctx = ctx
        self._handler = handler
        self._grace = grace
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await self._handler(reader, writer)
        finally:
            self._sessions.discard(task)
            writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._session,
            sock=self._ctx.sock,
            ssl=self._ctx.implicit_ssl,
            backlog=BACKLOG,
            start_serving=False,
        )
        await self._server.start_serving()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._sessions:
            _, pending = await asyncio.wait(set(self._sessions), timeout=self._grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)


async def http_listener(ctx: ListenerContext) -> Listener:
    """The ``http`` listener: the aiohttp app from `rmail.web.app.create_app`."""
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


def tls_mode(name: str, settings: ListenerConfig) -> str:
    if name == "http":
        return IMPLICIT_TLS if getattr(settings, "tls", False) else PLAIN
    return LISTENER_TLS[name]


def _format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_listener(name: str, settings: ListenerConfig) -> socket.socket:
    """Bind and listen on ``settings.host:port``; a failure names the listener and address."""
    where = _format_address(settings.host, settings.port)
    try:
        infos = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupError(f"listeners.{name}: cannot resolve {settings.host!r}: {exc}") from None
    family, type_, proto, _, sockaddr = infos[0]  # a host name binds its first address
    sock = socket.socket(family, type_, proto)
    try:
        # Lets a restart rebind while old connections sit in TIME_WAIT; Linux still refuses
        # a port that another socket is listening on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        if isinstance(exc, PermissionError) and 0 < settings.port < 1024:
            reason += " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        raise StartupError(f"listeners.{name}: cannot bind {where}: {reason}") from None
    return sock


class Server:
    """Owns the listeners of one rmail process; see the module docstring for the phases."""

    def __init__(
        self,
        config: Config,
        *,
        services: Mapping[str, object] | None = None,
        factories: Mapping[str, ListenerFactory | str] | None = None,
    ) -> None:
        self.config = config
        self.services: Mapping[str, object] = dict(services or {})
        self.factories = dict(LISTENER_FACTORIES if factories is None else factories)
        self.cert_path: Path | None = None
        self.key_path: Path | None = None
        self.addresses: dict[str, tuple[str, int]] = {}  # bound listeners, actual ports
        self.skipped: list[str] = []  # enabled but not implemented yet
        self._sockets: dict[str, socket.socket] = {}
        self._started: list[Listener] = []
        self._background: Services | None = None
        self._stop_requested = asyncio.Event()

    async def start(self) -> None:
        """Prepare, bind everything, set everything up, then start serving."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        cert, key = await asyncio.to_thread(self._prepare)
        self.cert_path, self.key_path = cert, key
        context = server_context(cert, key)

        plan: list[tuple[str, ListenerConfig, ListenerFactory | str]] = []
        for name, settings in self.config.listeners.enabled():
            entry = self.factories.get(name)
            if entry is None:
                self.skipped.append(name)
                log.warning("%s: not implemented yet, skipped", name)
            else:
                plan.append((name, settings, entry))

        for name, settings, _ in plan:
            sock = bind_listener(name, settings)
            self._sockets[name] = sock
            host, port = sock.getsockname()[:2]
            self.addresses[name] = (host, port)

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
            )
            listener = await _resolve(entry)(ctx)
            listeners.append(listener)
            self._started.append(listener)  # so stop() tears down a half-finished setup

        for listener in listeners:
            await listener.start()

        core = self.services.get("core")
        if isinstance(core, Services):  # background work: the outbound queue worker
            await core.start()
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
        """Stop every listener (gracefully, in parallel) and close every socket. Idempotent."""
        started, self._started = self._started, []
        results = await asyncio.gather(
            *(listener.stop() for listener in reversed(started)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                log.error("error while stopping a listener", exc_info=result)
        background, self._background = self._background, None
        if background is not None:
            await background.stop()
        sockets, self._sockets = self._sockets, {}
        for sock in sockets.values():
            sock.close()

    def request_stop(self) -> None:
        """Ask `serve` to stop (what SIGTERM and SIGINT do)."""
        self._stop_requested.set()

    async def wait_stop_requested(self) -> None:
        await self._stop_requested.wait()

    def url(self, name: str = "http") -> str:
        """Base URL of a bound HTTP listener (``https://127.0.0.1:PORT/``)."""
        host, port = self.addresses[name]
        return _url(self.config, name, host, port)

    def describe(self) -> str:
        return describe(self.config, self.addresses, factories=self.factories)

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
) -> str:
    """Every URL and port, one line each; ``addresses`` gives actual bound ports."""
    addresses = addresses or {}
    factories = LISTENER_FACTORIES if factories is None else factories
    lines = [
        f"rmail {__version__} on {config.hostname}",
        f"  {'data':<12} {config.mail_root}",
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
) -> None:
    """Run the server until SIGTERM/SIGINT or `Server.request_stop`, then stop gracefully.

    Once every listener serves: ``announce`` gets `describe` with the bound ports, then
    ``on_started(server)`` runs (bootstrap output such as demo credentials), then
    ``ready(server)`` (tests and supervisors). Hooks may be sync or async.
    """
    if services is None or "core" not in services:
        services = {**(services or {}), "core": build_services(config)}
    server = Server(config, services=services)
    with _stop_on_signals(server):
        await server.start()
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
    try:
        asyncio.run(serve(config, **kwargs))  # type: ignore[arg-type]
    except (StartupError, ConfigError) as exc:
        print(f"rmail: {exc}", file=sys.stderr)
        return 1
    return 0
