"""The `pop3` (STLS) and `pop3s` (implicit TLS) listeners, registered in
`rmail.server.LISTENER_FACTORIES`: a `StreamListener` with the per-IP cap in front of one
session per connection."""

from __future__ import annotations

import asyncio

from rmail.listeners import STARTTLS, Listener, ListenerContext, StreamListener
from rmail.pop3.connection import Connection
from rmail.pop3.server import serve
from rmail.pop3.session import Limits, Session

REFUSAL = b"-ERR [SYS/TEMP] too many connections from your address\r\n"


async def create_listener(ctx: ListenerContext) -> Listener:
    core = ctx.core
    limits = ctx.services.get("pop3_limits")
    if not isinstance(limits, Limits):
        settings = ctx.config.pop3
        limits = Limits(timeout=float(settings.timeout),
                        max_connections_per_ip=settings.max_connections_per_ip)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(core, Connection(reader, writer, limits.timeout), limits,
                          starttls=ctx.tls_mode == STARTTLS, ssl_context=ctx.ssl_context)
        await serve(session)

    return StreamListener(ctx, handle, cap=ctx.per_ip_cap(limits.max_connections_per_ip),
                          refusal=REFUSAL)
