"""rmail's SMTP/LMTP command loop and the mail transaction's commands (MAIL, RCPT, DATA).

aiosmtpd owns the protocol; this is the part of it rmail runs itself on every message, with
aiosmtpd's replies, limits and order of checks: the loop that reads and dispatches command
lines (`SmtpCommands._handle_client`) and the three commands that carry every message. The
session built around it (its construction, connection limit, idle timer, deliveries that
outlive a hang-up, how replies are written, HELO/EHLO/LHLO) is `rmail.smtp.protocol`.
tests/smtp/test_commands_as_aiosmtpd.py sends aiosmtpd's loop and this one the same lines.
"""

from __future__ import annotations

import asyncio
import logging
import re

import aiosmtpd.smtp
from aiosmtpd.smtp import MISSING, SMTP, syntax

from rmail.smtp.dataread import read_data

__all__ = ["SmtpCommands"]

log = logging.getLogger(__name__)

# A plain ``<dot-atom@host.name>`` path, the shape nearly every MAIL FROM and RCPT TO has.
_SIMPLE_PATH = re.compile(
    r"[ \t]*<((?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+\.)*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
    r"@(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+)>[ \t]*")

_MAIL_USAGE = "MAIL FROM: <address>"
_RCPT_USAGE = "RCPT TO: <address>"


class SmtpCommands(SMTP):
    """aiosmtpd's `SMTP` with rmail's command loop and MAIL, RCPT and DATA; the session
    (`rmail.smtp.protocol.RmailSMTP`) builds on it. Only what aiosmtpd's `SMTP` defines is
    used here (the reader, `push`, the handler's hooks), so the commands stand apart from how
    rmail builds a session and writes its replies."""

    async def _handle_client(self) -> None:
        """aiosmtpd's command loop (its replies, limits and order of checks: the greeting,
        over-long lines, bad syntax, strict ASCII, per-command size limits, TLS refusals,
        five unknown commands and out, errors through the handler's `handle_exception`)
        without its two log lines per command, formatted for a logger rmail keeps at ERROR.
        The PROXY protocol and per-command call limits, which rmail does not configure, are
        left to aiosmtpd's own loop. tests/smtp/test_commands_as_aiosmtpd.py sends both
        loops the same lines."""
        if self._proxy_timeout is not None or self._enforce_call_limit:
            await super()._handle_client()
            return
        await self.push(f"220 {self.hostname} {self.__ident__}")
        bogus = aiosmtpd.smtp.BOGUS_LIMIT
        reader = self._reader
        while self.transport is not None:
            try:
                try:
                    line = await reader.readuntil()
                except asyncio.LimitOverrunError as error:
                    await self._skip_line(error.consumed)
                    await self.push("500 Command line too long")
                    continue
                reply, command, arg = self._parse_command(line.rstrip(b"\r\n"))
                if reply is None:
                    method = self._smtp_methods.get(command)
                    if method is not None:
                        self._reset_timeout()
                        await method(arg)
                        continue
                    bogus -= 1
                    if bogus < 1:
                        await self.push("502 5.5.1 Too many unrecognized commands, goodbye.")
                        self.transport.close()
                        continue
                    reply = f'500 Error: command "{command}" not recognized'
                await self.push(reply)
            except (asyncio.CancelledError, ConnectionResetError):
                self._writer.close()
                raise
            except Exception as error:
                await self._failed(error)

    async def _skip_line(self, consumed: int) -> None:
        """Read the rest of an over-long command line (aiosmtpd's way: in chunks)."""
        reader = self._reader
        await reader.read(consumed)
        while True:
            try:
                await reader.readuntil()
                return
            except asyncio.LimitOverrunError as more:
                await reader.read(more.consumed)

    def _parse_command(self, line: bytes) -> tuple[str | None, str, str | None]:
        """(refusal or None, command, argument) of one command line."""
        if not line:
            return "500 Error: bad syntax", "", None
        verb, _, rest = line.partition(b" ")
        try:
            command = verb.upper().decode("ascii")
        except UnicodeDecodeError:
            return "500 Error: bad syntax", "", None
        arg: str | None = None
        if rest:
            rest = rest.strip()
            if self.enable_SMTPUTF8:
                arg = str(rest, encoding="utf-8", errors="surrogateescape")
            else:
                try:
                    arg = str(rest, encoding="ascii", errors="strict")
                except UnicodeDecodeError:
                    return "500 Error: strict ASCII mode", command, None
        session = self.session
        assert session is not None
        limit = self.command_size_limits[command] if session.extended_smtp \
            else self.command_size_limit
        if len(line) > limit:
            return "500 Command line too long", command, arg
        if not self._tls_handshake_okay and command != "QUIT":
            return "554 Command refused due to lack of security", command, arg
        if self.require_starttls and not self._tls_protocol \
                and command not in aiosmtpd.smtp.ALLOWED_BEFORE_STARTTLS:
            return "530 Must issue a STARTTLS command first", command, arg
        return None, command, arg

    async def _failed(self, error: Exception) -> None:
        """A command raised: the handler's `handle_exception` reply (aiosmtpd's fallbacks
        when that raises too); a failed STARTTLS set-up ends the connection."""
        status = None
        try:
            status = await self.handle_exception(error)
        except Exception as inner:
            try:
                log.exception("%r Exception in handle_exception()", self.session and
                              self.session.peer)
                status = f"500 Error: ({inner.__class__.__name__}) {inner}"
            except Exception:
                status = "500 Error: Cannot describe error"
        finally:
            if isinstance(error, aiosmtpd.smtp.TLSSetupException):
                assert self.transport is not None
                self.transport.close()
                self.connection_lost(error)
            else:
                await self.push(status)  # type: ignore[type-var]

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

    # MAIL, RCPT and DATA: aiosmtpd's checks, in its order, with its replies and hooks, made
    # with plain calls where aiosmtpd awaits a helper coroutine for each (the HELO and AUTH
    # checks, the hook call): these three commands carry every message. tests/smtp
    # (test_malformed, test_limits, test_mx) hold their replies to aiosmtpd's.
    def _refusal(self, command: str) -> str | None:
        """Why ``command`` may not come now: no HELO yet, or AUTH required."""
        session = self.session
        assert session is not None
        if not session.host_name:
            return "503 Error: send HELO first"
        if self._auth_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        return None

    def _syntax_error(self, usage: str) -> str:
        assert self.session is not None
        if self.session.extended_smtp:
            return f"501 Syntax: {usage} [SP <mail-parameters>]"
        return f"501 Syntax: {usage}"

    def _path(self, keyword: str, arg: str | None, usage: str) -> tuple[str, list[str]] | str:
        """The address and parameters of MAIL FROM:/RCPT TO: ``arg``, or the error reply."""
        assert self.session is not None
        extended = self.session.extended_smtp
        syntax_error = self._syntax_error(usage)
        if arg is None:
            return syntax_error
        rest = self._strip_command_keyword(keyword, arg)
        if rest is None:
            return syntax_error
        address, params = self._getaddr(rest)
        if address is None:
            return "553 5.1.3 Error: malformed address"
        if not address or (params and not extended):
            return syntax_error
        return address, (params or "").upper().split()

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        await self.push(self._refusal("MAIL") or await self._mail(arg))

    async def _mail(self, arg: str | None) -> str:
        envelope = self.envelope
        assert envelope is not None
        parsed = self._path("FROM:", arg, _MAIL_USAGE)
        if isinstance(parsed, str):
            return parsed
        if envelope.mail_from:
            return "503 Error: nested MAIL command"
        address, options = parsed
        params = self._getparams(options)
        if params is None:
            return self._syntax_error(_MAIL_USAGE)
        if not self._decode_data and params.pop("BODY", "7BIT") not in ("7BIT", "8BITMIME"):
            return "501 Error: BODY can only be one of 7BIT, 8BITMIME"
        smtputf8 = params.pop("SMTPUTF8", False)
        if not isinstance(smtputf8, bool):
            return "501 Error: SMTPUTF8 takes no arguments"
        if smtputf8 and not self.enable_SMTPUTF8:
            return "501 Error: SMTPUTF8 disabled"
        envelope.smtp_utf8 = smtputf8
        size = params.pop("SIZE", None)
        if size:
            if isinstance(size, bool) or not size.isdigit():
                return self._syntax_error(_MAIL_USAGE)
            if self.data_size_limit and int(size) > self.data_size_limit:
                return "552 Error: message size exceeds fixed maximum message size"
        if params:
            return "555 MAIL FROM parameters not recognized or not implemented"
        hook = self._handle_hooks.get("MAIL")
        if hook is None:
            envelope.mail_from = address
            envelope.mail_options.extend(options)
            return "250 OK"
        return await hook(self, self.session, envelope, address, options)  # type: ignore[no-any-return]

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        await self.push(self._refusal("RCPT") or await self._rcpt(arg))

    async def _rcpt(self, arg: str | None) -> str:
        envelope = self.envelope
        assert envelope is not None
        if not envelope.mail_from:
            return "503 Error: need MAIL command"
        parsed = self._path("TO:", arg, _RCPT_USAGE)
        if isinstance(parsed, str):
            return parsed
        address, options = parsed
        params = self._getparams(options)
        if params is None:
            return self._syntax_error(_RCPT_USAGE)
        if params:
            return "555 RCPT TO parameters not recognized or not implemented"
        hook = self._handle_hooks.get("RCPT")
        if hook is None:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
            return "250 OK"
        return await hook(self, self.session, envelope, address, options)  # type: ignore[no-any-return]

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA (same checks, replies and handler hook), with the body read in
        blocks by `rmail.smtp.dataread` instead of a line at a time."""
        refusal = self._refusal("DATA")
        if refusal is not None:
            await self.push(refusal)
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            content, problem = await read_data(self._reader, self.data_size_limit,
                                               self.line_length_limit)
        except asyncio.CancelledError:  # the connection went away during DATA
            self._writer.close()
            raise
        if problem is not None:
            await self.push(problem.value)
            self._set_post_data_state()
            return
        decoded: str | bytes = content
        if self._decode_data:
            try:
                decoded = content.decode(*(("utf-8", "surrogateescape") if self.enable_SMTPUTF8
                                           else ("ascii", "strict")))
            except UnicodeDecodeError:
                await self.push("500 Error: strict ASCII mode")
                return
        self.envelope.original_content = content
        self.envelope.content = decoded
        status = await self._call_handler_hook("DATA") if "DATA" in self._handle_hooks \
            else MISSING
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)
