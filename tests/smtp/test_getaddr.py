"""MAIL FROM/RCPT TO path parsing: rmail's fast path for ``<local@domain>`` must give exactly
what aiosmtpd's RFC 5322 parser gives, for every input (it only skips the parser when the
answer is certain). Bytes in, answer out: no sockets. Likewise the per-class reflection tables
a session binds must equal what aiosmtpd's per-connection reflection finds."""

from __future__ import annotations

import asyncio
import string
from collections.abc import Callable
from typing import Any

import pytest
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rmail.smtp.handlers import BaseHandler, LmtpHandler, MxHandler, SubmissionHandler
from rmail.smtp.protocol import RmailLMTP, RmailSMTP, reflected_names

_session = RmailSMTP.__new__(RmailSMTP)  # _getaddr reads only class attributes

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
pieces = st.sampled_from([*ATEXT[:20], ".", "@", "<", ">", " ", "\t", "(", ")", '"', "[", "]",
                          ":", ",", "\\", "é", "SIZE=100", "BODY=8BITMIME", "x.example"])


def outcome(fn: Callable[[SMTP, str], object], arg: str) -> object:
    try:
        return fn(_session, arg)
    except Exception as exc:  # the stdlib parser has crashes of its own on odd input
        return type(exc)


def both(arg: str) -> None:
    assert outcome(RmailSMTP._getaddr, arg) == outcome(SMTP._getaddr, arg), arg


@given(st.lists(pieces, max_size=14).map("".join))
@settings(max_examples=3000)
@example("<bob@example.com>")
@example("<bob@example.com> SIZE=4096 BODY=8BITMIME")
@example("  <bob@example.com>\tSIZE=1")
@example("<bob@example.com>(comment) SIZE=1")
@example("<bob@example.com> (comment) SIZE=1")
@example("<b.o.b@ex-ample.co.uk>")
@example("<bob.@example.com>")
@example("<bob..x@example.com>")
@example("<bob@example.com.>")
@example("<bob@[127.0.0.1]>")
@example('<"b o b"@example.com>')
@example("<@relay.example:bob@example.com>")
@example("<>")
@example("")
@example("bob@example.com")
def test_fast_path_agrees_with_aiosmtpd(arg: str) -> None:
    both(arg)


@given(st.text(alphabet=ATEXT + ".", min_size=1, max_size=20),
       st.text(alphabet=string.ascii_letters + string.digits + "-.", min_size=1, max_size=20),
       st.text(alphabet=" \tA=1", max_size=6))
def test_simple_paths_agree(local: str, domain: str, rest: str) -> None:
    both(f"<{local}@{domain}>{rest}")


def test_dir_lists_what_aiosmtpd_reflects_over() -> None:
    names = reflected_names(_session)
    assert {"smtp_MAIL", "smtp_RCPT", "smtp_DATA", "smtp_LHLO"} - set(names) == {"smtp_LHLO"}
    assert all(n.startswith(("smtp_", "auth_", "handle_")) for n in names)
    handler = MxHandler.__new__(MxHandler)
    assert {"handle_RCPT", "handle_DATA", "handle_EHLO", "handle_MAIL"} <= set(dir(handler))


@pytest.mark.parametrize("protocol_cls", [RmailSMTP, RmailLMTP])
@pytest.mark.parametrize("handler_cls", [MxHandler, SubmissionHandler, LmtpHandler])
@pytest.mark.parametrize("excluded", [None, ["PLAIN", "LOGIN"]])
def test_bound_tables_equal_aiosmtpd_reflection(protocol_cls: type[RmailSMTP],
                                                handler_cls: type[BaseHandler],
                                                excluded: list[str] | None) -> None:
    """A session's verbs, hooks, SASL mechanisms and EHLO hook version, bound from the
    per-class `_Reflection`, are exactly what aiosmtpd's own reflection finds."""
    handler = handler_cls.__new__(handler_cls)

    async def build() -> tuple[SMTP, SMTP]:
        loop = asyncio.get_running_loop()
        kwargs = {"hostname": "mx.example", "auth_require_tls": False,
                  "auth_exclude_mechanism": excluded, "loop": loop}
        ours = protocol_cls(handler, listener=None, **kwargs)  # type: ignore[arg-type]
        plain = (LMTP if protocol_cls is RmailLMTP else SMTP).__new__(protocol_cls)
        SMTP.__init__(plain, handler, **kwargs)  # aiosmtpd reflecting over the full dir()
        return ours, plain

    ours, plain = asyncio.run(build())

    def table(mapping: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
        out = {}
        for key, value in mapping.items():
            method = getattr(value, "method", value)
            out[key] = (method.__func__, method.__self__ is ours or method.__self__ is plain,
                        getattr(value, "is_builtin", None))
        return out

    for name in ("_smtp_methods", "_handle_hooks", "_auth_methods"):
        assert table(getattr(ours, name)) == table(getattr(plain, name)), name
    assert ours._ehlo_hook_ver == plain._ehlo_hook_ver


def test_aiosmtpd_command_logging_is_skipped_only_when_disabled() -> None:
    """aiosmtpd's `sanitized_log` is replaced by one that returns at once when the logger
    would drop the line, and still masks AUTH secrets when it would not."""
    import logging

    import aiosmtpd.smtp

    from rmail.smtp import protocol  # importing it installs the replacement

    log = logging.getLogger("mail.log")
    sanitized_log = aiosmtpd.smtp.sanitized_log
    assert sanitized_log is protocol._sanitized_log_if_enabled
    calls: list[tuple[object, ...]] = []

    class Spy(logging.Logger):
        def info(self, msg: object, *args: object, **kwargs: object) -> None:
            calls.append((msg, *args))

    quiet, loud = Spy("quiet", logging.ERROR), Spy("loud", logging.INFO)
    sanitized_log(quiet.info, "%r >> %r", "peer", b"AUTH PLAIN c2VjcmV0\r\n")
    assert calls == []
    sanitized_log(loud.info, "%r >> %r", "peer", b"AUTH PLAIN c2VjcmV0\r\n")
    assert calls == [("%r >> %r", "peer", b"AUTH PLAIN ********\r\n")]
    assert log.level == logging.ERROR  # rmail's setting: the per-command lines are dropped


@pytest.mark.parametrize("protocol_cls", [RmailSMTP, RmailLMTP])
@pytest.mark.parametrize("handler_cls", [MxHandler, SubmissionHandler, LmtpHandler])
@pytest.mark.parametrize("starttls", [False, True])
def test_sessions_from_a_template_equal_sessions_built_by_aiosmtpd(
        protocol_cls: type[RmailSMTP], handler_cls: type[BaseHandler], starttls: bool) -> None:
    """The first session of a listener is built by aiosmtpd and leaves a template; every
    later one is built from it and must hold the same attributes: the same shared values,
    its own stream plumbing and its own bound tables."""
    import ssl

    from rmail.smtp import protocol

    handler = handler_cls.__new__(handler_cls)

    class Listener:  # the template's key (a weak one, as the real listener is)
        pass

    listener = Listener()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) if starttls else None

    async def build() -> list[RmailSMTP]:
        kwargs = {"hostname": "mx.example", "ident": "rmail ESMTP", "auth_require_tls": False,
                  "data_size_limit": 1234, "enable_SMTPUTF8": True, "tls_context": context,
                  "timeout": 42, "auth_exclude_mechanism": ["PLAIN", "LOGIN"],
                  "loop": asyncio.get_running_loop()}
        first = protocol_cls(handler, listener=listener, **kwargs)  # type: ignore[arg-type]
        assert protocol._TEMPLATES.get(listener) is not None, "no template was made"
        second = protocol_cls(handler, listener=listener, **kwargs)  # type: ignore[arg-type]
        other = dict(kwargs, timeout=43)  # other settings: built by aiosmtpd again
        third = protocol_cls(handler, listener=listener, **other)  # type: ignore[arg-type]
        return [first, second, third]

    first, second, third = asyncio.run(build())
    assert third._timeout_duration == 43
    assert set(vars(first)) == set(vars(second))
    plumbing = protocol._stream_attributes(first.loop)
    for name, value in vars(first).items():
        theirs = getattr(second, name)
        if name in plumbing or name in protocol.PER_SESSION:
            assert type(theirs) is type(value), name
            if name not in {"listener", "_loop"} and value is not None and not isinstance(
                    value, (bool, int, float, str)):
                assert theirs is not value, f"{name} is shared between sessions"
        else:
            assert theirs is value or theirs == value, name
    assert second._smtp_methods["HELO"].__self__ is second
    assert second._stream_reader is not first._stream_reader
    assert second._closed is not first._closed
    assert {m: a.method.__func__ for m, a in second._auth_methods.items()} == \
        {m: a.method.__func__ for m, a in first._auth_methods.items()}
