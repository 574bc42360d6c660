"""The `imap` (STARTTLS) and `imaps` (implicit TLS) listeners, registered in
`rmail.server.LISTENER_FACTORIES`: a `StreamListener` with the per-IP cap in front of one
session per connection."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from rmail.imap.connection import Connection
from rmail.imap.server import Limits, new_session, serve
from rmail.listeners import STARTTLS, Listener, ListenerContext, StreamListener

REFUSAL = b"* BYE too many connections from your address\r\n"


async def create_listener(ctx: ListenerContext) -> Listener:
    core = ctx.core
    limits = ctx.services.get("imap_limits")
    if not isinstance(limits, Limits):
        limits = Limits()
    limits = replace(limits, appendlimit=ctx.config.max_message_bytes)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = new_session(core, Connection(reader, writer), limits,
                              starttls=ctx.tls_mode == STARTTLS, ssl_context=ctx.ssl_context)
        await serve(session)

    return StreamListener(ctx, handle, cap=ctx.per_ip_cap(limits.max_connections_per_ip),
                          refusal=REFUSAL)
