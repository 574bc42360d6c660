"""`RmailSMTP` answers MAIL, RCPT and DATA with its own code (plain calls where aiosmtpd awaits a
coroutine per check); every reply must stay aiosmtpd's. Both sessions serve the same handler on
real sockets and get the same command lines, valid and malformed; replies are compared with
enhanced status codes (which rmail adds, RFC 2034) taken out."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from rmail.smtp.protocol import RmailLMTP, RmailSMTP
from tests.smtp.conftest import BareListener

_ENHANCED = re.compile(rb"^(\d{3}[ -])[245]\.\d{1,3}\.\d{1,3} ?", re.MULTILINE)


class Recorder:
    """Accepts what the session lets through, so the session's own checks decide."""

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return f"250 sender {address} {' '.join(options)}".strip()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        envelope.rcpt_tos.append(address)
        return f"250 recipient {address} {' '.join(options)}".strip()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return f"250 got {len(envelope.content or b'')} for {','.join(envelope.rcpt_tos)}"


SCRIPT = [
    b"MAIL FROM:<a@example.net>", b"RCPT TO:<b@example.com>", b"DATA",
    b"HELO client.example.net",
    b"MAIL FROM:<a@example.net> SIZE=10", b"MAIL", b"MAIL TO:<a@example.net>",
    b"RCPT TO:<b@example.com>", b"MAIL FROM:<a@example.net>", b"RSET",
    b"EHLO client.example.net", b"LHLO client.example.net",
    b"RCPT TO:<b@example.com>", b"MAIL", b"MAIL FROM:", b"MAIL FROM:<>",
    b"RSET", b"MAIL FROM:<not an address>", b"MAIL FROM:<a@-bad-.example>",
    b"MAIL FROM: <a@example.net>  BODY=8BITMIME", b"RSET",
    b"MAIL FROM:<a@example.net> BODY=9BIT", b"MAIL FROM:<a@example.net> SMTPUTF8=yes",
    b"MAIL FROM:<a@example.net> SIZE", b"MAIL FROM:<a@example.net> SIZE=lots",
    b"MAIL FROM:<a@example.net> SIZE=99999999", b"MAIL FROM:<a@example.net> FROB=1",
    b"MAIL FROM:<a@example.net> X=", b"MAIL FROM:<a@example.net> =x",
    b"MAIL FROM:\"quoted local\"@example.net", b"RSET",
    b"MAIL FROM:<a@example.net> size=100 smtputf8",
    b"MAIL FROM:<c@example.net>", b"RCPT", b"RCPT FROM:<b@example.com>", b"RCPT TO:",
    b"RCPT TO:<@@example.com>", b"RCPT TO:<bob>", b"RCPT TO:<b@example.com> NOTIFY=NEVER",
    b"RCPT TO:<b@example.com> X=", b"RCPT to:<b@example.com>", b"RCPT TO:<postmaster>",
    b"DATA now", b"DATA",
]
# What aiosmtpd's command loop itself refuses, before any command method runs.
LOOP_SCRIPT = [
    b"", b"   ", b"\xff\xfeHELO x", b"EHLO client.example.net", b"NOOP \xc3\xa9t\xc3\xa9",
    b"HELP", b"HELP MAIL", b"VRFY <b@example.com>", b"MAIL FROM:<" + b"a" * 600 + b"@x.net>",
    b"X" * 2000, b"NOOP", b"FROB", b"frob", b"RSET", b"XYZZY 1", b"FOO", b"NOOP",
    b"BAR", b"NOOP",
]


async def replies(session_factory: Any, script: list[bytes] = SCRIPT) -> list[bytes]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(session_factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got = []
    try:
        await reader.readuntil(b"\r\n")  # the greeting (hostnames differ)
        for line in script:
            writer.write(line + b"\r\n")
            reply = b""
            while not re.search(rb"(^|\n)\d{3} [^\n]*\r\n$", reply):
                try:
                    reply += await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
                except asyncio.IncompleteReadError as closed:
                    got.append(closed.partial + b"<closed>")
                    return got
            got.append(_ENHANCED.sub(rb"\1", reply))
            if reply.startswith(b"354"):
                writer.write(b"Subject: x\r\n\r\n.dot\r\n.\r\n")
                got.append(_ENHANCED.sub(rb"\1", await asyncio.wait_for(
                    reader.readuntil(b"\r\n"), 10)))
    finally:
        writer.close()
        server.close()
        await server.wait_closed()
    return got


@pytest.mark.parametrize(("ours", "base"), [(RmailSMTP, SMTP), (RmailLMTP, LMTP)])
async def test_mail_rcpt_data_replies_are_aiosmtpds(ours: type[RmailSMTP],
                                                    base: type[SMTP]) -> None:
    handler = Recorder()
    settings = {"hostname": "mx.example.com", "data_size_limit": 1000, "enable_SMTPUTF8": True}
    listener = BareListener()
    theirs = await replies(lambda: base(handler, **settings))
    mine = await replies(lambda: ours(handler, listener=listener,  # type: ignore[arg-type]
                                      **settings))
    assert mine == theirs
    assert sum(r.startswith(b"250 recipient") for r in mine) >= 2  # the script got through


@pytest.mark.parametrize(("ours", "base"), [(RmailSMTP, SMTP), (RmailLMTP, LMTP)])
async def test_command_loop_refusals_are_aiosmtpds(ours: type[RmailSMTP],
                                                  base: type[SMTP]) -> None:
    """Empty and undecodable lines, over-long lines, unknown commands until the fifth ends
    the session: rmail's loop answers as aiosmtpd's."""
    handler = Recorder()
    settings = {"hostname": "mx.example.com", "enable_SMTPUTF8": False}
    theirs = await replies(lambda: base(handler, **settings), LOOP_SCRIPT)
    mine = await replies(lambda: ours(handler, listener=BareListener(),  # type: ignore[arg-type]
                                      **settings), LOOP_SCRIPT)
    assert mine == theirs
    assert theirs[-1].endswith(b"<closed>")  # the script reached the bogus-command limit
