"""What a protocol needs to serve on a socket the server bound: the `ListenerContext` a factory
receives, the `Listener` it returns, and the two ready-made listeners (`StreamListener` for line
protocols, `AiohttpListener` for HTTP).

This module sits below `rmail.server`: front ends (imap/, smtp/, pop3/) import it, never the
server. In a multi-process server every worker builds its own listeners from the same factories
over the sockets the supervisor bound once (see `rmail.supervisor`).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from rmail.config import Config, ListenerConfig
from rmail.conntable import ConnectionTable, Slot

if TYPE_CHECKING:
    from rmail.services import Services

__all__ = [
    "BACKLOG",
    "IMPLICIT_TLS",
    "LISTENER_TLS",
    "PLAIN",
    "SHUTDOWN_GRACE",
    "STARTTLS",
    "AiohttpListener",
    "Listener",
    "ListenerContext",
    "ListenerFactory",
    "PerIpCap",
    "StartupError",
    "StreamHandler",
    "StreamListener",
    "bind_listener",
    "format_address",
    "tls_mode",
]

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
    # Open connections per client address across every worker (`rmail.conntable`).
    connections: ConnectionTable | None = None

    @property
    def implicit_ssl(self) -> ssl.SSLContext | None:
        """The context to wrap accepted connections in, or None (plain or STARTTLS)."""
        return self.ssl_context if self.tls_mode == IMPLICIT_TLS else None

    @property
    def core(self) -> Services:
        """The process's `Services`; a listener never builds a private set, so a server
        started without one is a programming error and says so."""
        from rmail.services import Services

        core = self.services.get("core")
        if not isinstance(core, Services):
            raise TypeError(f"listener {self.name}: no Services given (services['core'])")
        return core

    def per_ip_cap(self, limit: int) -> PerIpCap:
        """The gate that holds each untrusted address to ``limit`` open connections on this
        listener, counted across all the server's workers."""
        if self.connections is None:
            raise TypeError(f"listener {self.name}: no connection table given")
        return PerIpCap(self.name, limit, self.connections, self.core.lockout.is_trusted)


class PerIpCap:
    """``max_connections_per_ip`` of one listener, shared by IMAP, POP3 and SMTP: `admit` a
    connection (None: the address is at its limit), `release` it when it ends. Trusted
    addresses (``security.trusted_networks``) are neither limited nor counted."""

    def __init__(self, scope: str, limit: int, table: ConnectionTable,
                 is_trusted: Callable[[str], bool]) -> None:
        self.scope = scope
        self.limit = limit
        self.table = table
        self.is_trusted = is_trusted

    def admit(self, ip: str) -> Slot | None:
        if self.is_trusted(ip):
            return Slot(None)
        return self.table.admit(self.scope, ip, self.limit)

    def release(self, held: Slot) -> None:
        self.table.release(held)


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
        site = web.SockSite(self._runner, self._sock, ssl_context=self._ssl_context,
                            backlog=BACKLOG)
        await site.start()

    async def stop(self) -> None:
        await self._runner.cleanup()  # stops accepting, waits up to shutdown_timeout


StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class StreamListener:
    """A line-protocol listener on asyncio streams (for IMAP, POP3 and friends).

    With a ``cap`` each connection first passes the per-IP gate; one from an address at its
    limit is sent ``refusal`` and closed before any session is built.

    On `stop` it stops accepting, gives open sessions ``grace`` seconds to end, then
    cancels them; a handler that wants to say goodbye (IMAP ``* BYE``) catches
    `asyncio.CancelledError`, writes, and re-raises.
    """

    def __init__(self, ctx: ListenerContext, handler: StreamHandler, grace: float = SHUTDOWN_GRACE,
                 *, cap: PerIpCap | None = None, refusal: bytes = b"") -> None:
        self._ctx = ctx
        self._handler = handler
        self._grace = grace
        self._cap = cap
        self._refusal = refusal
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._closing = False

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._closing:  # accepted (or TLS-handshaken) before the stop, run after it
            writer.close()
            return
        self._sessions.add(task)
        held: Slot | None = None
        try:
            if self._cap is not None:
                peer = writer.get_extra_info("peername")
                ip = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
                held = self._cap.admit(ip)
                if held is None:
                    await _refuse(writer, self._refusal)
                    return
            await self._handler(reader, writer)
        finally:
            if held is not None and self._cap is not None:
                self._cap.release(held)
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
        """Stop accepting, drain, cancel. A connection accepted before the close whose
        session task has not run yet finds `_closing` set and ends at once (the task only
        registers itself in `_sessions` when it first runs, so it could not be waited for)."""
        self._closing = True
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._sessions:
            _, pending = await asyncio.wait(set(self._sessions), timeout=self._grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)


async def _refuse(writer: asyncio.StreamWriter, refusal: bytes) -> None:
    """Tell a refused client why, without waiting long for it to read."""
    writer.write(refusal)
    try:
        await asyncio.wait_for(writer.drain(), 5)
    except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
        pass


def tls_mode(name: str, settings: ListenerConfig) -> str:
    if name == "http":
        return IMPLICIT_TLS if getattr(settings, "tls", False) else PLAIN
    return LISTENER_TLS[name]


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_listener(name: str, settings: ListenerConfig, *, port: int | None = None,
                  reuse_port: bool = False) -> socket.socket:
    """Bind and listen on ``settings.host:port``; a failure names the listener and address.

    ``port`` overrides the configured one (the second and later sockets of a
    ``SO_REUSEPORT`` group join the port the first one got); ``reuse_port`` sets
    ``SO_REUSEPORT`` so several sockets share one port, the kernel spreading connections."""
    port = settings.port if port is None else port
    where = format_address(settings.host, port)
    try:
        infos = socket.getaddrinfo(
            settings.host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupError(f"listeners.{name}: cannot resolve {settings.host!r}: {exc}") from None
    family, type_, proto, _, sockaddr = infos[0]  # a host name binds its first address
    sock = socket.socket(family, type_, proto)
    try:
        # Lets a restart rebind while old connections sit in TIME_WAIT; Linux still refuses
        # a port that another socket is listening on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        if isinstance(exc, PermissionError) and 0 < port < 1024:
            reason += " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        raise StartupError(f"listeners.{name}: cannot bind {where}: {reason}") from None
    return sock
