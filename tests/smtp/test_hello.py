"""EHLO and LHLO replies (RFC 5321 §4.1.1.1, RFC 2033 §4.1): every line, in order, written
at once, and the session's replies after them unchanged. Raw sockets, so the bytes on the
wire are what is checked."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from rmail.smtp import protocol
from rmail.smtp.handlers import MxHandler, SubmissionHandler
from rmail.smtp.protocol import RmailLMTP, RmailSMTP
from tests.mailenv import MailEnv, body_of, in_thread, message
from tests.smtp.conftest import BareListener, MakeEnv

CAPABILITIES = [b"250-mx.example.com", b"250-SIZE", b"250-8BITMIME", b"250-SMTPUTF8",
                b"250-PIPELINING", b"250 ENHANCEDSTATUSCODES"]


def _read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _hello(env: MailEnv, listener: str, command: bytes) -> tuple[bytes, bytes, bytes]:
    """The first read after the hello command, the rest of its reply, and MAIL's reply."""
    with socket.create_connection(env.addr(listener), timeout=30) as sock:
        assert _read_until(sock, b"\r\n").startswith(b"220 ")
        sock.sendall(command + b"\r\n")
        first = sock.recv(65536)
        rest = b"" if first.endswith(b"ENHANCEDSTATUSCODES\r\n") else \
            _read_until(sock, b"ENHANCEDSTATUSCODES\r\n")
        sock.sendall(b"MAIL FROM:<a@example.net>\r\n")
        mail = _read_until(sock, b"\r\n")
        sock.sendall(b"QUIT\r\n")
        _read_until(sock, b"\r\n")
        return first, rest, mail


@pytest.mark.parametrize(("listener", "command"), [
    ("lmtp", b"LHLO mta.example.net"),
    ("smtp", b"EHLO mta.example.net"),
    ("submission", b"EHLO client.example.net"),
])
async def test_hello_reply_is_one_write(env: MailEnv, listener: str, command: bytes) -> None:
    """The whole capability list arrives in the first read (aiosmtpd wrote a line at a time:
    a system call each, on every connection of a client that connects per message)."""
    first, rest, mail = await in_thread(_hello, env, listener, command)
    assert rest == b""
    lines = first.split(b"\r\n")
    assert lines[-1] == b""
    expected = list(CAPABILITIES)
    if listener != "lmtp":  # the test servers have a certificate; LMTP offers no STARTTLS
        expected.insert(4, b"250-STARTTLS")
    assert [line.split(b" ", 1)[0] if line.startswith(b"250-SIZE") else line
            for line in lines[:-1]] == expected
    assert lines[1] == f"250-SIZE {env.config.max_message_bytes}".encode()
    # later replies carry enhanced codes again (submission wants AUTH first)
    assert mail == (b"530 5.7.0 Authentication required\r\n" if listener == "submission"
                    else b"250 2.1.0 Sender OK\r\n")


async def test_pipelined_lhlo_and_transaction(env: MailEnv) -> None:
    """A client that pipelines (RFC 2920) LHLO, the envelope and DATA gets every reply in
    order, the LHLO reply whole and first; a second LHLO resets the transaction."""
    raw = message("pipelined")

    def go() -> bytes:
        with socket.create_connection(env.addr("lmtp"), timeout=30) as sock:
            _read_until(sock, b"\r\n")
            sock.sendall(b"LHLO a.example.net\r\nMAIL FROM:<a@example.net>\r\n"
                         b"LHLO b.example.net\r\nRCPT TO:<bob@example.com>\r\n"
                         b"MAIL FROM:<a@example.net>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
            replies = _read_until(sock, b"354 End data with <CR><LF>.<CR><LF>\r\n")
            sock.sendall(raw + b".\r\nLHLO\r\nQUIT\r\n")
            return replies + _read_until(sock, b"221 2.0.0 Bye\r\n")

    lines = (await in_thread(go)).split(b"\r\n")
    hello = [line for line in lines if line.startswith(b"250-") or
             line == b"250 ENHANCEDSTATUSCODES"]
    assert len(hello) == 2 * len(CAPABILITIES)
    rest = [line for line in lines if line and line not in hello]
    assert rest == [
        b"250 2.1.0 Sender OK",
        b"503 5.5.1 Error: need MAIL command",  # the second LHLO reset the transaction
        b"250 2.1.0 Sender OK",
        b"250 2.1.5 Recipient OK",
        b"354 End data with <CR><LF>.<CR><LF>",
        b"250 2.0.0 Delivered",
        b"501 Syntax: EHLO hostname",  # aiosmtpd's wording, no enhanced code (RFC 2034 §3)
        b"221 2.0.0 Bye",
    ]
    assert [body_of(m) for m in env.inbox("bob")] == [raw]


@pytest.mark.parametrize(("listener", "hello", "not_offered"), [
    ("lmtp", b"LHLO", {b"HELO", b"EHLO"}),
    ("smtp", b"EHLO", {b"LHLO"}),
])
async def test_help_lists_the_session_verbs(env: MailEnv, listener: str, hello: bytes,
                                            not_offered: set[bytes]) -> None:
    """HELP reads the session's command table (bound per lookup, not per connection) and
    lists every command the service takes, DATA and the greetings included."""

    def go() -> list[bytes]:
        with socket.create_connection(env.addr(listener), timeout=30) as sock:
            _read_until(sock, b"\r\n")
            sock.sendall(b"HELP\r\nHELP " + hello + b"\r\nHELP DATA\r\nHELP BOGUS\r\nQUIT\r\n")
            return _read_until(sock, b"221 2.0.0 Bye\r\n").split(b"\r\n")[:4]

    listing, greeting, data, bogus = await in_thread(go)
    assert listing.startswith(b"250 ")
    commands = set(listing.split(b": ", 1)[1].split())
    assert {hello, b"MAIL", b"RCPT", b"DATA", b"RSET", b"QUIT", b"NOOP"} <= commands
    assert not commands & not_offered
    assert greeting.endswith(b"Syntax: " + hello + b" hostname")
    assert data.endswith(b"Syntax: DATA")
    assert bogus.startswith(b"501 ")


async def test_idle_session_closed_after_timeout(make_env: MakeEnv) -> None:
    """A session idle for ``smtp.timeout`` seconds is closed; commands keep it open (each
    moves the deadline). The pauses between commands are a fifth of the timeout, the
    session lives more than twice the timeout before it goes idle."""
    env = await make_env(smtp={"timeout": 2})

    def go() -> tuple[list[bytes], bytes, float, float]:
        with socket.create_connection(env.addr("lmtp"), timeout=60) as sock:
            _read_until(sock, b"\r\n")
            started = time.monotonic()
            replies = []
            while time.monotonic() - started < 5:
                sock.sendall(b"NOOP\r\n")
                replies.append(_read_until(sock, b"\r\n"))
                time.sleep(0.4)
            active = time.monotonic() - started
            idle_from = time.monotonic()
            rest = sock.recv(100)  # blocks until the server closes the idle session
            return replies, rest, active, time.monotonic() - idle_from

    replies, rest, active, idle = await in_thread(go)
    assert active >= 5 and set(replies) == {b"250 2.0.0 OK\r\n"}
    assert rest == b""
    assert idle >= 1.5  # closed for idleness, not at a deadline set when it connected


@pytest.mark.parametrize("cls", [RmailSMTP, RmailLMTP])
async def test_a_replayed_hello_leaves_the_session_as_a_whole_one(cls: type[RmailSMTP]) -> None:
    """The first EHLO/LHLO of a listener runs aiosmtpd's command and the handler's hook; later
    ones replay its reply and its effects on the session. Both must leave the same session
    state and send the same bytes (an aiosmtpd that changed what EHLO does fails here)."""
    protocol._HELLOS.clear()
    handler = MxHandler.__new__(MxHandler)
    listener = BareListener()
    sessions: list[RmailSMTP] = []

    def make() -> RmailSMTP:
        sessions.append(cls(handler, listener=listener,  # type: ignore[arg-type]
                            hostname="mx.example.com", data_size_limit=1000,
                            enable_SMTPUTF8=True))
        return sessions[-1]

    loop = asyncio.get_running_loop()
    server = await loop.create_server(make, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    verb = b"LHLO" if cls is RmailLMTP else b"EHLO"
    replies = []
    for name in (b"one.example.net", b"two.example.net"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readuntil(b"\r\n")
        writer.write(verb + b" " + name + b"\r\n")
        replies.append(await reader.readuntil(b"ENHANCEDSTATUSCODES\r\n"))
        writer.write(b"MAIL FROM:<a@example.net> SIZE=10\r\n")
        replies.append(await reader.readuntil(b"\r\n"))
        writer.close()
    server.close()
    await server.wait_closed()
    assert len(protocol._HELLOS) == 1  # the second session was replayed
    assert replies[0] == replies[2] and replies[1] == replies[3]
    assert replies[1].startswith(b"250 ")
    first, second = sessions
    assert first.session is not None and second.session is not None
    assert (first.session.host_name, second.session.host_name) == \
        ("one.example.net", "two.example.net")
    assert first.session.extended_smtp is second.session.extended_smtp is True
    assert dict(first.command_size_limits) == dict(second.command_size_limits)
    assert vars(first.envelope) == vars(second.envelope)


async def test_no_hello_replay_for_a_handler_offering_auth() -> None:
    """Submission decides AUTH per client (TLS, trusted network): never replayed."""
    handler = SubmissionHandler.__new__(SubmissionHandler)
    session = RmailSMTP(handler, listener=BareListener(),  # type: ignore[arg-type]
                        hostname="mx.example.com")
    assert session._hello_key() is None
