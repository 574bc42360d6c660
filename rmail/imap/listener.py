"""The `imap` (STARTTLS) and `imaps` (implicit TLS) listeners, registered in
`rmail.server.LISTENER_FACTORIES`."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

from rmail.imap.connection import Connection
from rmail.imap.server import Limits, new_session, serve
from rmail.listeners import STARTTLS, Listener, ListenerContext, StreamListener
from rmail.services import Services


class ImapListener:
    """Accepts connections, enforces the per-IP connection cap, runs one session each."""

    def __init__(self, ctx: ListenerContext, core: Services, limits: Limits) -> None:
        self.ctx = ctx
        self.core = core
        self.limits = limits
        self.per_ip: Counter[str] = Counter()
        self.stream = StreamListener(ctx, self.handle)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer)
        ip = conn.peer_ip() or "?"
        trusted = self.core.config.security.is_trusted(ip)
        if not trusted and self.per_ip[ip] >= self.limits.max_connections_per_ip:
            conn.write(b"* BYE too many connections from your address\r\n")
            await conn.close()
            return
        self.per_ip[ip] += 1
        try:
            session = new_session(self.core, conn, self.limits,
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
    limits = ctx.services.get("imap_limits")
    if not isinstance(limits, Limits):
        limits = Limits()
    limits = replace(limits, appendlimit=ctx.config.max_message_bytes)
    return ImapListener(ctx, core, limits)
