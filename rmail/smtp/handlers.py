"""Policy for the three SMTP services, as aiosmtpd handler hooks (STYLE.md #10).

- `MxHandler` (port 25): mail for local domains only, every RCPT resolved at once.
- `SubmissionHandler` (587 STARTTLS, 465 implicit TLS): AUTH PLAIN/LOGIN, only over TLS unless
  ``smtp.auth_without_tls_trusted`` and the client is in a trusted network; sender checks;
  local recipients delivered, remote ones queued.
- `LmtpHandler`: final delivery handed over by another MTA, one reply per recipient.

A handler is shared by all sessions of a listener; per-session state lives on aiosmtpd's
``session`` and ``envelope`` objects. Every reply is a `Reply` constant rendered once here.

Authentication does not use aiosmtpd's ``authenticator=`` callback: aiosmtpd 1.4 calls it
synchronously on the event loop, and checking a password costs an argon2 run. The handler's
``auth_PLAIN``/``auth_LOGIN`` coroutines replace the built-in mechanisms instead and await
`rmail.auth.Authenticator` (which hashes in a thread and applies the shared lockout).
"""

from __future__ import annotations

import base64
import binascii
import inspect
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from aiosmtpd.smtp import MISSING, AuthResult, Envelope, Session

from rmail.auth import AuthError, LoginInfo, Principal
from rmail.delivery import SubmissionRefused
from rmail.smtp.protocol import RmailSMTP, reflected_names
from rmail.smtp.replies import (
    AUTH_INVALID,
    AUTH_LOCKED,
    AUTH_MALFORMED,
    AUTH_NOT_AVAILABLE,
    AUTH_REQUIRED,
    AUTH_TOO_WEAK,
    AUTH_WRONG_SCOPE,
    BAD_SENDER,
    ENCRYPTION_REQUIRED,
    LMTP_NOT_LOCAL,
    LOCAL_ERROR,
    NOT_LOCAL,
    SENDER_OK,
    SUBMISSION_DISABLED,
    TOO_MANY_RECIPIENTS,
    Reply,
)
from rmail.store.accounts import split_address
from rmail.store.errors import InvalidValue, NotFound, UnsafeName

if TYPE_CHECKING:
    from aiosmtpd.smtp import SMTP

    from rmail.services import Services
    from rmail.smtp.listener import SmtpListener

__all__ = ["BaseHandler", "LmtpHandler", "MxHandler", "SubmissionHandler"]

log = logging.getLogger(__name__)

AUTH_MECHANISMS = ("PLAIN", "LOGIN")
T = TypeVar("T")

# Senders that passed `split_address` (a pure check, about 5 us per MAIL): mail comes again
# and again from the same few addresses.
_GOOD_SENDERS: set[str] = set()
_GOOD_SENDERS_SIZE = 4096


def peer_ip(session: Session) -> str | None:
    peer = session.peer
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return None


def tls_info(server: SMTP) -> str | None:
    """``TLSv1.3 TLS_AES_256_GCM_SHA384`` for a TLS session (STARTTLS or implicit), else None."""
    transport = server.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher()
    return f"{ssl_object.version()} {cipher[0] if cipher else ''}".strip()


def declared_size(mail_options: list[str]) -> int | None:
    """The SIZE= parameter of MAIL FROM (RFC 1870), if any."""
    for option in mail_options:
        key, _, value = option.partition("=")
        if key.upper() == "SIZE" and value.isdigit():
            return int(value)
    return None


class BaseHandler:
    """What MX, submission and LMTP share: EHLO extensions, MAIL, DATA bookkeeping.

    ``dir()`` lists only the hooks and SASL mechanisms aiosmtpd reflects over on every
    connection (see `rmail.smtp.protocol.reflected_names`).
    """

    protocol_name = "ESMTP"
    offers_auth = False

    def __dir__(self) -> list[str]:
        return reflected_names(self)

    def __init__(self, services: Services, listener: SmtpListener) -> None:
        self.services = services
        self.delivery = services.delivery
        self.config = services.config
        self.listener = listener

    # -- helpers ------------------------------------------------------------------------------
    def received(self, server: SMTP, session: Session, envelope: Envelope) -> bytes:
        tls = tls_info(server)
        protocol = self.protocol_name
        if protocol == "ESMTP":
            if not session.extended_smtp:
                protocol = "SMTP"
            else:
                protocol += "S" if tls else ""
                protocol += "A" if session.authenticated else ""
        rcpts = list(dict.fromkeys(envelope.rcpt_tos))
        return self.delivery.received(protocol=protocol, helo=session.host_name,
                                      peer_ip=peer_ip(session), tls=tls,
                                      recipient=rcpts[0] if len(rcpts) == 1 else None)

    def auth_allowed(self, server: SMTP, session: Session) -> bool:
        """AUTH only over TLS, or from trusted networks when configured."""
        if not self.offers_auth:
            return False
        if tls_info(server) is not None:
            return True
        return self.config.smtp.auth_without_tls_trusted and \
            self.services.lockout.is_trusted(peer_ip(session))

    def run_delivery(self, server: SMTP, coro: Awaitable[T]) -> Awaitable[T]:
        """Run a delivery to its end even if the client goes away meanwhile (the store work
        is committed as a unit, and a stop waits for it)."""
        assert isinstance(server, RmailSMTP)
        return server.delivering(coro)

    # -- hooks -----------------------------------------------------------------------------------
    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        lines = [r[4:] for r in responses
                 if not r[4:].startswith("AUTH") and r[4:] != "HELP"]
        lines += ["PIPELINING", "ENHANCEDSTATUSCODES"]
        if self.auth_allowed(server, session):
            lines.append("AUTH " + " ".join(AUTH_MECHANISMS))
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]

    async def handle_AUTH(self, server: SMTP, session: Session, envelope: Envelope,
                          args: list[str]) -> Any:
        if not self.offers_auth:
            return str(AUTH_NOT_AVAILABLE)
        if not self.auth_allowed(server, session):
            return str(ENCRYPTION_REQUIRED)
        if self.services.lockout.is_locked(peer_ip(session)):
            return str(AUTH_LOCKED)
        return MISSING

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if address != "<>" and address not in _GOOD_SENDERS:
            try:
                split_address(address)
            except (InvalidValue, UnsafeName):
                return str(BAD_SENDER)
            if len(_GOOD_SENDERS) >= _GOOD_SENDERS_SIZE:
                _GOOD_SENDERS.clear()
            _GOOD_SENDERS.add(address)
        envelope.mail_from = address  # "<>" for the null sender: aiosmtpd needs it non-empty
        envelope.mail_options.extend(mail_options)
        return str(SENDER_OK)

    def check_count(self, envelope: Envelope) -> Reply | None:
        if len(envelope.rcpt_tos) >= self.config.smtp.max_recipients:
            return TOO_MANY_RECIPIENTS
        return None

    def accept_rcpt(self, envelope: Envelope, address: str, rcpt_options: list[str],
                    reply: Reply) -> str:
        if reply.ok:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return str(reply)

    async def handle_exception(self, error: Exception) -> str:
        log.exception("SMTP session error", exc_info=error)
        return str(LOCAL_ERROR)


# aiosmtpd inspects the signature of handle_EHLO on every connection; computing it once here
# keeps that off the per-connection path.
BaseHandler.handle_EHLO.__signature__ = inspect.signature(  # type: ignore[attr-defined]
    BaseHandler.handle_EHLO)


class MxHandler(BaseHandler):
    """Inbound mail from the internet for local domains; never relays."""

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        refusal = self.check_count(envelope)
        if refusal is not None:
            return str(refusal)
        reply = await self.delivery.check_recipient(
            address, size=declared_size(envelope.mail_options))
        if reply is NOT_LOCAL:
            log.info("relay attempt from %s to %s refused", peer_ip(session), address)
        return self.accept_rcpt(envelope, address, rcpt_options, reply)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        report = await self.run_delivery(server, self.delivery.deliver_local(
            raw, mail_from=envelope.mail_from or "", recipients=envelope.rcpt_tos,
            received=self.received(server, session, envelope)))
        return str(report.reply())


class LmtpHandler(MxHandler):
    """RFC 2033: the same checks as MX, but DATA answers once per accepted RCPT, in order."""

    protocol_name = "LMTP"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        refusal = self.check_count(envelope)
        if refusal is not None:
            return str(refusal)
        reply = await self.delivery.check_recipient(
            address, size=declared_size(envelope.mail_options))
        if reply is NOT_LOCAL:
            reply = LMTP_NOT_LOCAL
        return self.accept_rcpt(envelope, address, rcpt_options, reply)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        report = await self.run_delivery(server, self.delivery.deliver_local(
            raw, mail_from=envelope.mail_from or "", recipients=envelope.rcpt_tos,
            received=self.received(server, session, envelope), single_reply=False))
        lines = []
        for rcpt in envelope.rcpt_tos:  # RFC 2033 §4.2: one reply per successful RCPT
            outcome = report.get(rcpt)
            lines.append(str(outcome.reply) if outcome is not None else str(LOCAL_ERROR))
        return "\r\n".join(lines)


# RFC 4954 §6 replies by `AuthError.reason`. "2fa" and "scope" are raised only after the
# password was verified (the master password of a two-factor account; an application
# password of another scope), so naming them leaks nothing; a wrong password, an unknown
# user and a disabled account all get the same AUTH_INVALID.
_AUTH_REFUSALS = {"locked": AUTH_LOCKED, "2fa": AUTH_TOO_WEAK, "scope": AUTH_WRONG_SCOPE}


class SubmissionHandler(BaseHandler):
    """Mail from our own users' clients: AUTH first, then the sender policy."""

    offers_auth = True

    # -- SASL (RFC 4954): replaces aiosmtpd's built-in PLAIN and LOGIN ---------------------
    async def _login(self, server: SMTP, login: bytes, password: bytes) -> AuthResult:
        try:
            user, secret = login.decode("utf-8"), password.decode("utf-8")
        except UnicodeDecodeError:
            await server.push(str(AUTH_MALFORMED))
            return AuthResult(success=False, handled=True)
        assert server.session is not None
        ip = peer_ip(server.session)
        try:
            principal = await self.services.auth.authenticate(
                user, secret, ip=ip, scope="smtp", info=LoginInfo("smtp"))
        except AuthError as exc:
            log.info("AUTH for %r from %s refused: %s", user, ip, exc.reason)
            reply = _AUTH_REFUSALS.get(exc.reason, AUTH_INVALID)
            return AuthResult(success=False, handled=False, message=str(reply))
        return AuthResult(success=True, auth_data=principal)

    async def _initial(self, server: SMTP, args: list[str], challenge: str) -> bytes | None:
        """The client's first SASL response: inline (``=`` is empty) or after a challenge."""
        if len(args) > 1:
            if args[1] == "=":
                return b""
            try:
                return base64.b64decode(args[1], validate=True)
            except (binascii.Error, ValueError):
                await server.push(str(AUTH_MALFORMED))
                return None
        data = await server.challenge_auth(challenge)
        return None if data is MISSING else data  # type: ignore[return-value]

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        data = await self._initial(server, args, "")
        if data is None:
            return AuthResult(success=False, handled=True)
        parts = data.split(b"\0")
        if len(parts) != 3 or not parts[1]:
            await server.push(str(AUTH_MALFORMED))
            return AuthResult(success=False, handled=True)
        authzid, login, password = parts
        if authzid and authzid != login:  # acting as someone else is not offered
            return AuthResult(success=False, handled=False, message=str(AUTH_INVALID))
        return await self._login(server, login, password)

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        login = await self._initial(server, args, "Username:")
        if login is None:
            return AuthResult(success=False, handled=True)
        password = await server.challenge_auth("Password:")
        if password is MISSING:
            return AuthResult(success=False, handled=True)
        return await self._login(server, login, password)  # type: ignore[arg-type]

    # -- envelope ---------------------------------------------------------------------------
    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        principal = session.auth_data
        if not session.authenticated or not isinstance(principal, Principal):
            return str(AUTH_REQUIRED)
        try:
            account = await self.delivery.check_account(principal)
        except NotFound:  # deleted since the login
            return str(SUBMISSION_DISABLED)
        except Exception:
            log.exception("account of %s unreadable", principal.address)
            return str(LOCAL_ERROR)
        refusal = self.delivery.check_sender(account, address)
        if refusal is not None:
            return str(refusal)
        envelope.account = account  # type: ignore[attr-defined]
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        refusal = self.check_count(envelope)
        if refusal is not None:
            return str(refusal)
        reply = await self.delivery.check_submission_recipient(
            envelope.account, address, accepted=len(set(envelope.rcpt_tos)),  # type: ignore[attr-defined]
            size=declared_size(envelope.mail_options))
        return self.accept_rcpt(envelope, address, rcpt_options, reply)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        principal = session.auth_data
        if not isinstance(principal, Principal):  # MAIL already required AUTH
            return str(AUTH_REQUIRED)
        try:
            report = await self.run_delivery(server, self.delivery.submit(
                raw, principal=principal, mail_from=envelope.mail_from or "",
                recipients=envelope.rcpt_tos,
                received=self.received(server, session, envelope)))
        except SubmissionRefused as exc:
            return str(exc.reply)
        return str(report.reply())
