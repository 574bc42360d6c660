"""aiosmtpd's SMTP and LMTP protocols with the few things a listener needs around them.

aiosmtpd owns the protocol (STARTTLS, SASL framing, the rarer commands); policy lives in
the handlers (`rmail.smtp.handlers`), and the command loop with MAIL, RCPT and DATA in
`rmail.smtp.commands`. These session classes add what happens per connection: the per-IP
connection limit (a refused client gets ``421 4.7.0`` before the greeting), the enhanced
status codes RFC 2034 asks for on aiosmtpd's own replies, registration with the listener so
a stop can close idle sessions, deliveries that outlive a hang-up, the idle timer, and a
session and its EHLO built cheaply from the listener's first.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import weakref
from collections.abc import Awaitable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AnyStr, TypeVar

import aiosmtpd.smtp
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, _AuthMechAttr, syntax

from rmail.smtp.commands import SmtpCommands
from rmail.smtp.replies import TOO_MANY_CONNECTIONS, with_enhanced_code

if TYPE_CHECKING:
    from rmail.smtp.listener import SmtpListener

__all__ = ["RmailLMTP", "RmailSMTP"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class _LoginDataNoise(logging.Filter):
    """aiosmtpd logs a deprecation warning about `Session.login_data` on every successful AUTH
    (it sets the attribute itself); that is not news to anyone reading our logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in str(record.msg)


# aiosmtpd finds SMTP verbs, SASL mechanisms and handler hooks by reflection over ``dir()``
# on every new connection (`SMTP.__init__`); these are the only prefixes it looks for.
REFLECTED_PREFIXES = ("smtp_", "auth_", "handle_")

# While a session is being built, ``dir()`` of sessions and handlers is empty (so aiosmtpd's
# reflection finds nothing and costs nothing) and `RmailSMTP` fills the same tables from
# `_Reflection`, computed once per (session class, handler class).
_building = threading.local()


def reflected_names(obj: object) -> list[str]:
    """What ``dir(obj)`` needs to show aiosmtpd: the names with its prefixes, computed once
    per class (a full ``dir()`` plus a ``getattr`` of every property costs about 0.1 ms per
    connection, a tenth of a whole SMTP transaction)."""
    if getattr(_building, "active", False):
        return []
    cls = type(obj)
    names = _REFLECTED.get(cls)
    if names is None:
        names = sorted(n for n in object.__dir__(obj) if n.startswith(REFLECTED_PREFIXES))
        _REFLECTED[cls] = names
    return names


_REFLECTED: dict[type, list[str]] = {}


@dataclass(frozen=True, slots=True)
class _Reflection:
    """aiosmtpd's per-connection tables as attribute names, found once per class pair
    exactly as `SMTP.__init__` finds them (same names, same order, same overrides)."""

    verbs: dict[str, str]  # command -> session attribute (read only)
    hooks: tuple[tuple[str, str], ...]  # (hook, handler attribute)
    mechanisms: tuple[tuple[str, str, bool], ...]  # (name, attribute, on the session)
    ehlo_hook: str | None  # aiosmtpd's `_ehlo_hook_ver`

    @classmethod
    def of(cls, session: object, handler: object) -> _Reflection:
        key = (type(session), type(handler))
        found = _REFLECTIONS.get(key)
        if found is not None:
            return found
        mechanisms = []
        for on_session, obj in ((True, session), (False, handler)):
            for name in reflected_names(obj):
                if name.startswith("auth_"):
                    method = getattr(obj, name)
                    mech = getattr(method, "__auth_mechanism_name__",
                                   name.replace("auth_", "").replace("__", "-"))
                    mechanisms.append((mech, name, on_session))
        hooks = tuple((n.replace("handle_", ""), n) for n in reflected_names(handler)
                      if n.startswith("handle_"))
        ehlo = getattr(handler, "handle_EHLO", None)
        version = None
        if ehlo is not None:
            params = len(inspect.signature(ehlo).parameters)
            if params not in (4, 5):
                raise RuntimeError("Unsupported EHLO Hook")
            version = "old" if params == 4 else "new"
        found = cls({n.replace("smtp_", ""): n for n in reflected_names(session)
                     if n.startswith("smtp_")}, hooks, tuple(mechanisms), version)
        _REFLECTIONS[key] = found
        return found


_REFLECTIONS: dict[tuple[type, type], _Reflection] = {}

# A handler's hooks bound once: every session of a listener shares its handler.
_HOOKS: weakref.WeakKeyDictionary[object, dict[str, Any]] = weakref.WeakKeyDictionary()


class _Verbs(Mapping[str, Any]):
    """aiosmtpd's table of a session's command methods (``_smtp_methods``), binding a method
    when a command looks it up instead of binding all twenty when the session starts."""

    __slots__ = ("_names", "_session")

    def __init__(self, session: SMTP, names: dict[str, str]) -> None:
        self._session = session
        self._names = names

    def __getitem__(self, verb: str) -> Any:
        return getattr(self._session, self._names[verb])

    def get(self, verb: str, default: Any = None) -> Any:
        name = self._names.get(verb)
        return default if name is None else getattr(self._session, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

_ENHANCED: dict[str, str] = {}  # reply -> with its enhanced status code (replies repeat)
_ENHANCED_SIZE = 1024


def _enhanced(reply: str) -> str:
    """`with_enhanced_code`, remembered (a regex match and a format per reply otherwise)."""
    found = _ENHANCED.get(reply)
    if found is None:
        found = with_enhanced_code(reply)
        if len(_ENHANCED) >= _ENHANCED_SIZE:
            _ENHANCED.clear()
        _ENHANCED[reply] = found
    return found


_mail_log = logging.getLogger("mail.log")  # aiosmtpd's logger: one INFO line per command
_mail_log.setLevel(logging.ERROR)
_mail_log.addFilter(_LoginDataNoise())

_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_sanitized_log = aiosmtpd.smtp.sanitized_log


def _sanitized_log_if_enabled(func: Any, msg: Any, *args: Any, **kwargs: Any) -> None:
    """aiosmtpd's `sanitized_log` (which masks AUTH secrets in a logged line), skipped when
    the logger would drop the line anyway: its command loop calls it twice per command line,
    and it builds a list of masked arguments before the logger looks at its level (about 2 %
    of a worker's Python time with ``mail.log`` at ERROR, as rmail sets it)."""
    logger = getattr(func, "__self__", None)
    if isinstance(logger, logging.Logger) and not logger.isEnabledFor(
            _LOG_LEVELS.get(getattr(func, "__name__", ""), logging.CRITICAL)):
        return
    _sanitized_log(func, msg, *args, **kwargs)


aiosmtpd.smtp.sanitized_log = _sanitized_log_if_enabled  # the loop looks it up as a global


# Attributes a session holds for itself: built anew for each (never copied from a template).
PER_SESSION = frozenset({"_smtp_methods", "_auth_methods", "listener", "_refused",
                         "_plain_replies", "_held", "_deadline", "_session_task",
                         "_delivering", "_cancel_deferred", "_armed"})
# What a template may hand to every session as is: values that are never mutated in place.
_SHARED_TYPES = (type(None), bool, int, float, str, bytes, tuple, frozenset)


@dataclass(frozen=True, slots=True)
class _Template:
    """What aiosmtpd's `SMTP.__init__` leaves on a session of one listener, apart from the
    stream plumbing: the same for every connection of that listener (the settings it was
    given, its handler, the loop, empty state). The first session of a listener is built by
    aiosmtpd; each later one gets `asyncio.StreamReaderProtocol`'s own set-up and a copy of
    these attributes, which skips aiosmtpd's checks and reflection per connection (about
    5 % of a delivering worker's Python time with a connection per message; the SSL context's
    `verify_mode`, read as an enum, alone 1 %). tests/smtp/test_getaddr.py checks that both
    ways build the same session."""

    cls: type
    kwargs: dict[str, Any]
    attrs: dict[str, Any]
    loop: asyncio.AbstractEventLoop

    @classmethod
    def of(cls, session: RmailSMTP, kwargs: dict[str, Any]) -> _Template | None:
        """The template of ``session`` (just built by aiosmtpd), or None when aiosmtpd left
        an attribute that is not safe to share (a newer aiosmtpd: every session is then
        built the slow way, and the test that compares both ways says why)."""
        plumbing = _stream_attributes(session.loop)
        attrs = {}
        for name, value in vars(session).items():
            if name in plumbing or name in PER_SESSION:
                continue
            if not isinstance(value, _SHARED_TYPES) and name not in _SHARED_OBJECTS:
                log.debug("no session template: %s is a %s", name, type(value).__name__)
                return None
            attrs[name] = value
        return cls(type(session), dict(kwargs), attrs, session.loop)

    def apply(self, session: RmailSMTP) -> None:
        asyncio.StreamReaderProtocol.__init__(
            session, asyncio.StreamReader(loop=self.loop, limit=session.line_length_limit),
            client_connected_cb=session._cb_client_connected, loop=self.loop)
        session.__dict__.update(self.attrs)


# Objects every session of a listener shares by design (aiosmtpd stores the ones it is given).
_SHARED_OBJECTS = frozenset({"loop", "event_handler", "tls_context", "_handle_hooks",
                             "_auth_callback", "_authenticator", "_call_limit_base"})


_STREAM_ATTRIBUTES: list[frozenset[str]] = []


def _never_called(*_: object) -> None:  # pragma: no cover - a probe's callback
    raise AssertionError("a probe is never connected")


def _stream_attributes(loop: asyncio.AbstractEventLoop) -> frozenset[str]:
    """The attributes `asyncio.StreamReaderProtocol.__init__` sets (made per connection)."""
    if not _STREAM_ATTRIBUTES:
        probe = asyncio.StreamReaderProtocol(asyncio.StreamReader(loop=loop), loop=loop,
                                             client_connected_cb=_never_called)
        _STREAM_ATTRIBUTES.append(frozenset(vars(probe)))
    return _STREAM_ATTRIBUTES[0]


# Per listener (weak: a test's listeners come and go).
_TEMPLATES: weakref.WeakKeyDictionary[object, _Template] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class _Hello:
    """An EHLO/LHLO as it went on a first session: the reply's bytes and what it did to the
    session, replayed on later ones (see `RmailSMTP._extended_hello`)."""

    reply: bytes
    limits: tuple[tuple[str, int], ...]  # command line limits raised, and by how much

    @classmethod
    def of(cls, session: RmailSMTP, hostname: str, limits_before: dict[str, int],
           reply: bytes) -> _Hello | None:
        """What ``session``'s EHLO did (its limits were ``limits_before``), or None when it
        did not end as a successful EHLO does."""
        state = session.session
        assert state is not None
        if not reply.startswith(b"250") or state.host_name != hostname \
                or not state.extended_smtp:
            return None
        default = session.command_size_limit
        raised = tuple((command, limit - limits_before.get(command, default))
                       for command, limit in session.command_size_limits.items()
                       if limit != limits_before.get(command, default))
        return cls(reply, raised)

    def apply(self, session: RmailSMTP, hostname: str) -> None:
        session._set_rset_state()
        state = session.session
        assert state is not None
        state.extended_smtp = True
        state.host_name = hostname
        limits = session.command_size_limits
        for command, extra in self.limits:
            limits[command] += extra


_HELLOS: dict[tuple[Any, ...], _Hello] = {}
_HELLOS_SIZE = 64


class _DeferredCancel:
    """What a delivering session shows aiosmtpd as its task: a cancel is noted and made
    when the delivery is over (see `RmailSMTP.delivering`)."""

    __slots__ = ("_session",)

    def __init__(self, session: RmailSMTP) -> None:
        self._session = session

    def cancel(self, msg: Any = None) -> bool:
        self._session._cancel_deferred = True
        return True


class RmailSMTP(SmtpCommands):
    """One SMTP session; its command loop and MAIL, RCPT and DATA come from `SmtpCommands`.

    ``dir()`` of a session lists only its SMTP verbs and SASL mechanisms (`reflected_names`),
    and aiosmtpd's reflection tables are bound from a `_Reflection` found once per class
    (about 0.15 ms per connection otherwise: with ``smtp-source`` a connection per message).
    """

    def __init__(self, handler: Any, *, listener: SmtpListener, **kwargs: Any) -> None:
        table = _Reflection.of(self, handler)
        template = _TEMPLATES.get(listener) if listener is not None else None
        if template is not None and template.cls is type(self) and template.kwargs == kwargs:
            template.apply(self)
        else:
            _building.active = True
            try:
                super().__init__(handler, **kwargs)
            finally:
                _building.active = False
            hooks = _HOOKS.get(handler)
            if hooks is None:
                hooks = _HOOKS[handler] = {hook: getattr(handler, name)
                                           for hook, name in table.hooks}
            self._handle_hooks = hooks
            self._ehlo_hook_ver = table.ehlo_hook
            made = _Template.of(self, kwargs) if listener is not None else None
            if made is not None:
                _TEMPLATES[listener] = made
        self._smtp_methods = _Verbs(self, table.verbs)  # type: ignore[assignment]
        excluded = kwargs.get("auth_exclude_mechanism") or ()
        self._auth_methods = {mech: _AuthMechAttr(getattr(self if mine else handler, name), mine)
                              for mech, name, mine in table.mechanisms if mech not in excluded}
        self.listener = listener
        self._refused = False
        self._plain_replies = False  # inside HELO/EHLO/LHLO: no enhanced codes (RFC 2034 §3)
        self._held: list[bytes] | None = None  # an EHLO/LHLO reply's lines, sent as one write
        self._deadline = 0.0  # loop time after which an idle session is closed
        self._session_task = None  # aiosmtpd's ``_handler_coroutine`` (see `delivering`)

    # aiosmtpd ends a session by cancelling its task (``self._handler_coroutine.cancel()``)
    # when the connection is lost, the client half-closes it or a stop closes it. During a
    # delivery that cancel waits for the delivery's end (tests/smtp/test_hangup.py pins it).
    _session_task: asyncio.Task[None] | None
    _paused: bool  # asyncio's flow control (`FlowControlMixin`), read by `_write`
    _connection_lost: bool
    _delivering = False
    _cancel_deferred = False
    _armed = 0.0  # when the idle timer fires (see `_reset_timeout`)

    @property
    def _handler_coroutine(self) -> Any:
        if self._delivering:
            return _DeferredCancel(self)
        return self._session_task

    @_handler_coroutine.setter
    def _handler_coroutine(self, task: asyncio.Task[None] | None) -> None:
        self._session_task = task

    async def delivering(self, work: Awaitable[T]) -> T:
        """Await ``work`` (a delivery) to its end even if the client goes away meanwhile: its
        store work is committed as a unit and what rmail took over (forwards, retries,
        bounces) is queued after it. A cancel asked for meanwhile is raised here afterwards,
        so the session ends as it would have (no reply: its client has gone or is going).
        This costs nothing per message, where a shielded task of its own cost a task, a
        future and four turns of the loop."""
        self._delivering = True
        listener = self.listener
        listener.deliveries += 1
        try:
            result = await work
        finally:
            self._delivering = False
            listener.delivery_done()
        if self._cancel_deferred:  # ended as the cancel would have ended it, reply unsent
            self._cancel_deferred = False
            raise asyncio.CancelledError
        return result

    def _reset_timeout(self, duration: float | None = None) -> None:
        """Move the idle deadline (aiosmtpd calls this at the connection and at every
        command). aiosmtpd cancels its timer and schedules a new one each time, seven times
        per transaction, and the cancelled timers stay in the loop's heap until they expire
        or a clean-up; here the one timer stays, and `_idle_check` closes the session once it
        has been idle for the whole timeout or waits again until the deadline."""
        loop = self.loop
        self._deadline = deadline = loop.time() + (duration or self._timeout_duration)
        handle = self._timeout_handle
        if handle is None or self._armed > deadline or handle.cancelled():
            if handle is not None:
                handle.cancel()
            self._armed = deadline
            self._timeout_handle = loop.call_at(deadline, self._idle_check)

    def _idle_check(self) -> None:
        if self.loop.time() < self._deadline:
            self._armed = self._deadline
            self._timeout_handle = self.loop.call_at(self._deadline, self._idle_check)
        else:
            self._timeout_cb()

    def __dir__(self) -> list[str]:
        return reflected_names(self)

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
        """aiosmtpd's `push` (the reply, with its enhanced status code, written and drained),
        with the drain awaited only when it has something to do: when the transport is
        paused, closing or lost, or the reader failed (`StreamWriter.drain`'s cases; the
        attributes are asyncio's, pinned by tests/smtp/test_push.py). aiosmtpd's push awaits
        two coroutines and formats a debug line per reply: seven replies per message."""
        if isinstance(status, str):
            if not self._plain_replies:
                status = _enhanced(status)  # type: ignore[assignment]
            data = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii") + b"\r\n"
        else:
            data = status + b"\r\n"
        if self._held is not None:
            self._held.append(data)
            return
        await self._write(data)

    async def _write(self, data: bytes) -> None:
        writer = self._writer
        writer.write(data)
        # The reader fails only in `connection_lost` (asyncio sets ``_connection_lost`` there
        # too), and aiosmtpd's ``transport`` is None only after it.
        if self._paused or self._connection_lost or self.transport.is_closing():  # type: ignore[union-attr]
            await writer.drain()

    async def _extended_hello(self, hostname: str) -> None:
        """aiosmtpd's EHLO (or LHLO) with its reply lines sent in one write: aiosmtpd pushes
        each capability line on its own (a ``send`` and a drain each, six here), paid by every
        transaction of a client that connects per message (``smtp-source -L``, an MTA's LMTP
        client without connection caching): 20-30 us of server CPU per connection. The bytes
        on the wire are the same.

        The reply and what the command does to the session (a new envelope, the extended
        flag, the HELO name, aiosmtpd's longer MAIL line limit) are the same for every
        session of one listener whose handler offers no AUTH (MX, LMTP), so after the first
        they are replayed from `_Hello` (aiosmtpd's EHLO and the handler's hook cost a fifth
        of a delivering worker's per-connection work). tests/smtp/test_hello.py compares a
        replayed session with one that ran the whole command."""
        key = self._hello_key() if hostname else None
        replay = _HELLOS.get(key) if key is not None else None
        if replay is not None:
            replay.apply(self, hostname)
            await self._write(replay.reply)
            return
        limits = dict(self.command_size_limits)
        self._plain_replies = True
        self._held = []
        try:
            await SMTP.smtp_EHLO(self, hostname)
            lines = self._held
        finally:
            self._held = None
            self._plain_replies = False
        if key is not None and lines:
            made = _Hello.of(self, hostname, limits, b"".join(lines))
            if made is not None:
                if len(_HELLOS) >= _HELLOS_SIZE:
                    _HELLOS.clear()
                _HELLOS[key] = made
        if lines:
            await self._write(b"".join(lines))

    def _hello_key(self) -> tuple[Any, ...] | None:
        """What an EHLO reply depends on, or None when it may differ per client (a handler
        that offers AUTH decides by TLS and address)."""
        handler = self.event_handler
        if getattr(handler, "offers_auth", True):
            return None
        return (type(self), type(handler), self.hostname, self.data_size_limit,
                self._decode_data, self.enable_SMTPUTF8, self.tls_context is not None,
                self._tls_protocol is not None, self._auth_require_tls, self._ehlo_hook_ver,
                tuple(sorted(self._auth_methods)), hasattr(self, "ehlo_hook"))

    @syntax("HELO hostname")
    async def smtp_HELO(self, hostname: str) -> None:
        self._plain_replies = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._plain_replies = False

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:
        await self._extended_hello(hostname)

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
        await self._extended_hello(arg)
