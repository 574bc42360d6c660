"""aiosmtpd's SMTP and LMTP protocols with the few things a listener needs around them.

aiosmtpd owns the protocol (command parsing, DATA, STARTTLS, SASL framing); policy lives in
the handlers (`rmail.smtp.handlers`). These subclasses only add what happens per connection:
the per-IP connection limit (a refused client gets ``421 4.7.0`` before the greeting), the
enhanced status codes RFC 2034 asks for on aiosmtpd's own replies, and registration with the
listener so a stop can close idle sessions.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any, AnyStr

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, syntax

from rmail.smtp.replies import TOO_MANY_CONNECTIONS, with_enhanced_code

if TYPE_CHECKING:
    from rmail.smtp.listener import SmtpListener

__all__ = ["RmailLMTP", "RmailSMTP"]


class _LoginDataNoise(logging.Filter):
    """aiosmtpd logs a deprecation warning about `Session.login_data` on every successful AUTH
    (it sets the attribute itself); that is not news to anyone reading our logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in str(record.msg)


# A plain ``<dot-atom@host.name>`` path, the shape nearly every MAIL FROM and RCPT TO has.
_SIMPLE_PATH = re.compile(
    r"[ \t]*<((?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+\.)*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
    r"@(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+)>[ \t]*")

# aiosmtpd finds SMTP verbs, SASL mechanisms and handler hooks by reflection over ``dir()``
# on every new connection (`SMTP.__init__`); these are the only prefixes it looks for.
REFLECTED_PREFIXES = ("smtp_", "auth_", "handle_")


def reflected_names(obj: object) -> list[str]:
    """What ``dir(obj)`` needs to show aiosmtpd: the names with its prefixes, computed once
    per class (a full ``dir()`` plus a ``getattr`` of every property costs about 0.1 ms per
    connection, a tenth of a whole SMTP transaction)."""
    cls = type(obj)
    names = _REFLECTED.get(cls)
    if names is None:
        names = [n for n in object.__dir__(obj) if n.startswith(REFLECTED_PREFIXES)]
        _REFLECTED[cls] = names
    return names


_REFLECTED: dict[type, list[str]] = {}

_mail_log = logging.getLogger("mail.log")  # aiosmtpd's logger: one INFO line per command
_mail_log.setLevel(logging.ERROR)
_mail_log.addFilter(_LoginDataNoise())


class RmailSMTP(SMTP):
    """One SMTP session.

    ``dir()`` of a session lists only its SMTP verbs and SASL mechanisms (`reflected_names`):
    that is all aiosmtpd reflects over, once per connection.
    """

    def __init__(self, handler: Any, *, listener: SmtpListener, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.listener = listener
        self._refused = False
        self._plain_replies = False  # inside HELO/EHLO/LHLO: no enhanced codes (RFC 2034 §3)

    def __dir__(self) -> list[str]:
        return reflected_names(self)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """The path of MAIL FROM/RCPT TO and the parameters after it. The common
        ``<local@domain>`` form is matched here; anything else (quoted local parts, address
        literals, source routes, comments, UTF-8) goes to aiosmtpd's RFC 5322 parser, which
        costs 40 µs a call. Both give the same answer (tests/smtp/test_getaddr.py)."""
        m = _SIMPLE_PATH.match(arg)
        if m is None or arg.startswith("(", m.end()):
            return super()._getaddr(arg)
        addr = m.group(1)
        if self.local_part_limit and addr.rindex("@") > self.local_part_limit:
            return None, None
        return addr, arg[m.end():]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None and not self.listener.admit(self, transport):
            # Refused before the greeting; aiosmtpd never sees this connection.
            self._refused = True
            transport.write(f"{TOO_MANY_CONNECTIONS}\r\n".encode())  # type: ignore[attr-defined]
            transport.close()
            return
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        self.listener.release(self)
        super().connection_lost(error)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def eof_received(self) -> bool | None:
        if self._refused:
            return False
        return super().eof_received()

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str) and not self._plain_replies:
            status = with_enhanced_code(status)  # type: ignore[assignment]
        await super().push(status)

    async def smtp_HELO(self, hostname: str) -> None:
        self._plain_replies = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._plain_replies = False

    async def smtp_EHLO(self, hostname: str) -> None:
        self._plain_replies = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._plain_replies = False

    def close(self, reply: str | None = None) -> None:
        """Say ``reply`` (if any) and close the connection (used by the listener's stop)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if reply:
            transport.write(f"{reply}\r\n".encode())  # type: ignore[attr-defined]
        transport.close()


class RmailLMTP(RmailSMTP, LMTP):
    """One LMTP session (RFC 2033): LHLO instead of HELO/EHLO, one reply per recipient."""

    async def smtp_HELO(self, hostname: str) -> None:
        await LMTP.smtp_HELO(self, hostname)

    async def smtp_EHLO(self, hostname: str) -> None:
        await LMTP.smtp_EHLO(self, hostname)

    @syntax("LHLO hostname")
    async def smtp_LHLO(self, arg: str) -> None:
        self._plain_replies = True
        try:
            await SMTP.smtp_EHLO(self, arg)
        finally:
            self._plain_replies = False
