"""The ``smtp``, ``submission``, ``submissions`` and ``lmtp`` listeners.

Each serves aiosmtpd sessions on the socket the server bound in its bind-first phase
(``loop.create_server(..., sock=ctx.sock)``; aiosmtpd's `Controller` would bind its own).
Registered in `rmail.server.LISTENER_FACTORIES` by name.

Stopping: the listener stops accepting, tells idle sessions ``421 4.3.2`` and closes them,
and lets deliveries already running (their client may be waiting for the 250) finish within
the grace period.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rmail.conntable import Slot
from rmail.listeners import BACKLOG, SHUTDOWN_GRACE, STARTTLS, ListenerContext
from rmail.services import Services
from rmail.smtp.handlers import BaseHandler, LmtpHandler, MxHandler, SubmissionHandler
from rmail.smtp.protocol import RmailLMTP, RmailSMTP
from rmail.smtp.replies import SHUTTING_DOWN

__all__ = ["SmtpListener", "lmtp_listener", "smtp_listener", "submission_listener"]

log = logging.getLogger(__name__)

IDENT = "rmail ESMTP"


class SmtpListener:
    """Serves one SMTP-family protocol on a pre-bound socket."""

    def __init__(self, ctx: ListenerContext, services: Services, handler_cls: type[BaseHandler],
                 protocol_cls: type[RmailSMTP] = RmailSMTP) -> None:
        self.ctx = ctx
        self.services = services
        self.handler = handler_cls(services, self)
        self.protocol_cls = protocol_cls
        self.cap = ctx.per_ip_cap(ctx.config.smtp.max_connections_per_ip)
        self._server: asyncio.Server | None = None
        self._sessions: dict[RmailSMTP, Slot] = {}
        self.deliveries = 0  # sessions inside `RmailSMTP.delivering`
        self._drained: asyncio.Future[None] | None = None  # set when they are none (a stop)
        self._settings: dict[str, Any] = {}

    # -- sessions ------------------------------------------------------------------------------
    def _protocol(self) -> RmailSMTP:
        return self.protocol_cls(self.handler, listener=self, **self._settings)

    def _session_settings(self) -> dict[str, Any]:
        """aiosmtpd's settings of every session of this listener (made once in `start`)."""
        config = self.ctx.config
        starttls = self.ctx.ssl_context if self.ctx.tls_mode == STARTTLS else None
        offers_auth = self.handler.offers_auth
        return dict(
            hostname=config.hostname,
            ident=IDENT,
            data_size_limit=config.max_message_bytes,
            enable_SMTPUTF8=True,
            tls_context=starttls,
            timeout=config.smtp.timeout,
            auth_require_tls=False,  # the handler decides, per client (see handlers.py)
            auth_exclude_mechanism=None if offers_auth else ["PLAIN", "LOGIN"],
            loop=asyncio.get_running_loop(),
        )

    def admit(self, session: RmailSMTP, transport: asyncio.BaseTransport) -> bool:
        """Count a new connection; False when its IP already has the maximum open."""
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        session.peer_ip = ip  # type: ignore[attr-defined]
        held = self.cap.admit(ip)
        if held is None:
            log.warning("%s: refused a connection from %s (limit %d)", self.ctx.name, ip,
                        self.cap.limit)
            return False
        self._sessions[session] = held
        return True

    def release(self, session: RmailSMTP) -> None:
        held = self._sessions.pop(session, None)
        if held is not None:
            self.cap.release(held)

    def delivery_done(self) -> None:
        """A session's delivery ended (counted up by `RmailSMTP.delivering`)."""
        self.deliveries -= 1
        drained = self._drained
        if not self.deliveries and drained is not None and not drained.done():
            drained.set_result(None)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    # -- Listener protocol -----------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._settings = self._session_settings()
        self._server = await loop.create_server(
            self._protocol, sock=self.ctx.sock, ssl=self.ctx.implicit_ssl, backlog=BACKLOG,
            start_serving=False)
        await self._server.start_serving()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self.deliveries:  # let deliveries under way finish (their client awaits a 250)
            self._drained = asyncio.get_running_loop().create_future()
            await asyncio.wait([self._drained], timeout=SHUTDOWN_GRACE)
        for session in list(self._sessions):
            session.close(str(SHUTTING_DOWN))
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        for _ in range(50):  # let connection_lost run for the closed transports
            if not self._sessions:
                break
            await asyncio.sleep(0.01)


async def smtp_listener(ctx: ListenerContext) -> SmtpListener:
    """``smtp``: the MX."""
    return SmtpListener(ctx, ctx.core, MxHandler)


async def submission_listener(ctx: ListenerContext) -> SmtpListener:
    """``submission`` (STARTTLS) and ``submissions`` (implicit TLS)."""
    return SmtpListener(ctx, ctx.core, SubmissionHandler)


async def lmtp_listener(ctx: ListenerContext) -> SmtpListener:
    """``lmtp``: final delivery for another MTA."""
    return SmtpListener(ctx, ctx.core, LmtpHandler, RmailLMTP)
