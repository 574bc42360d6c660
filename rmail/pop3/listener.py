"""The `pop3` (STLS) and `pop3s` (implicit TLS) listeners, registered in
`rmail.server.LISTENER_FACTORIES`."""

from __future__ import annotations

import asyncio
from collections import Counter

from rmail.listeners import STARTTLS, Listener, ListenerContext, StreamListener
from rmail.pop3.connection import Connection
from rmail.pop3.server import serve
from rmail.pop3.session import Limits, Session
from rmail.services import Services


class Pop3Listener:
    """Accepts connections, enforces the per-IP connection cap, runs one session each."""

    def __init__(self, ctx: ListenerContext, core: Services, limits: Limits) -> None:
        self.ctx = ctx
        self.core = core
        self.limits = limits
        self.per_ip: Counter[str] = Counter()
        self.stream = StreamListener(ctx, self.handle)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer, self.limits.timeout)
        ip = conn.peer_ip() or "?"
        trusted = self.core.config.security.is_trusted(ip)
        if not trusted and self.per_ip[ip] >= self.limits.max_connections_per_ip:
            conn.write(b"-ERR [SYS/TEMP] too many connections from your address\r\n")
            await conn.close()
            return
        self.per_ip[ip] += 1
        try:
            session = Session(self.core, conn, self.limits,
                              starttls=self.ctx.tls_mode == STARTTLS,
                              ssl_context=self.ctx.ssl_context)
            await serve(session)
        finally:
            self.per_ip[ip] -= 1
            if self.per_ip[ip] <= 0:
                del self.per_ip[ip]

    async def start(self) -> None:
        await self.stream.start()

    async def stop(self) -> None:
        await self.stream.stop()


async def create_listener(ctx: ListenerContext) -> Listener:
    core = ctx.core
    limits = ctx.services.get("pop3_limits")
    if not isinstance(limits, Limits):
        settings = ctx.config.pop3
        limits = Limits(timeout=float(settings.timeout),
                        max_connections_per_ip=settings.max_connections_per_ip)
    return Pop3Listener(ctx, core, limits)
