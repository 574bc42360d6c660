"""Malformed and over-long lines, pipelining, the per-IP connection cap, shutdown."""

from __future__ import annotations

import time

from rmail.pop3.session import Limits
from tests.pop3.conftest import ADDRESS, PASSWORD, Pop3Server, StartPop3, message


def test_malformed_commands_keep_the_session(pop3: Pop3Server) -> None:
    raw = pop3.raw()
    for line in (b"", b"FOO", b"RETR", b"USER", b"\xff\xfe", b"STAT\0x", b"LIST a b c"):
        assert raw.cmd(line).startswith(b"-ERR"), line
    assert raw.cmd(b"USER " + ADDRESS.encode()).startswith(b"+OK")
    assert raw.cmd(b"PASS " + PASSWORD.encode()).startswith(b"+OK")
    assert raw.cmd(b"QUIT").startswith(b"+OK")
    assert raw.closed()


def test_too_many_bad_commands(start_pop3: StartPop3) -> None:
    pop3 = start_pop3(limits=Limits(max_bad_commands=5))
    raw = pop3.raw()
    for _ in range(4):
        assert raw.cmd(b"BOGUS").startswith(b"-ERR unknown")
    assert raw.cmd(b"BOGUS").startswith(b"-ERR unknown")
    assert raw.line() == b"-ERR too many invalid commands; closing"
    assert raw.closed()


def test_long_line_refused_session_usable(pop3: Pop3Server) -> None:
    raw = pop3.raw()
    assert raw.cmd(b"USER " + b"a" * 300) == b"-ERR command line longer than 255 octets"
    assert raw.cmd(b"NOOP" + b" " * 251).startswith(b"-ERR command line longer")
    assert raw.cmd(b"CAPA").startswith(b"+OK")
    raw.multiline()
    # exactly 255 octets with the CRLF is fine (and a parse error of its own, not a length one)
    assert raw.cmd(b"PASS " + b"x" * 248) == b"-ERR send USER first"


def test_client_that_keeps_sending_long_lines_is_dropped(pop3: Pop3Server) -> None:
    raw = pop3.raw()
    for _ in range(2):
        assert raw.cmd(b"X" * 1000).startswith(b"-ERR command line longer")
    raw.send(b"X" * 1000 + b"\r\n")
    assert raw.line().startswith(b"-ERR command line longer")
    assert raw.line() == b"-ERR too many over-long lines; closing"
    assert raw.closed()


def test_endless_line_is_dropped(pop3: Pop3Server) -> None:
    raw = pop3.raw()
    try:
        raw.send(b"Y" * 200_000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert raw.line().startswith(b"-ERR command line longer")
    assert raw.line() == b"-ERR too many over-long lines; closing"
    assert raw.closed()


def test_pipelining(pop3: Pop3Server) -> None:
    raws = [message(i) for i in range(1, 4)]
    for r in raws:
        pop3.deliver(r)
    raw = pop3.raw()
    raw.send(b"USER " + ADDRESS.encode() + b"\r\nPASS " + PASSWORD.encode() +
             b"\r\nSTAT\r\nRETR 1\r\nRETR 2\r\nDELE 3\r\nLIST\r\nUIDL 1\r\nQUIT\r\n")
    assert raw.line().startswith(b"+OK")
    assert raw.line().startswith(b"+OK")
    assert raw.line() == b"+OK 3 %d" % sum(map(len, raws))
    for r in raws[:2]:
        assert raw.line() == b"+OK %d octets" % len(r)
        assert b"\r\n".join(raw.multiline()) + b"\r\n" == r
    assert raw.line() == b"+OK message 3 deleted"
    assert raw.line().startswith(b"+OK 2 messages")
    assert len(raw.multiline()) == 2
    assert raw.line().startswith(b"+OK 1 ")
    assert raw.line().startswith(b"+OK bye")
    assert raw.closed()
    assert len(pop3.folder().uids()) == 2


def test_pipelined_input_before_stls_is_dropped(start_pop3: StartPop3) -> None:
    pop3 = start_pop3(trusted=False)
    raw = pop3.raw()
    raw.send(b"STLS\r\nUSER injected\r\n")
    assert raw.line() == b"+OK begin TLS negotiation"
    tls = pop3.ssl_context().wrap_socket(raw.sock)
    tls.sendall(b"PASS x\r\n")
    assert tls.recv(1000) == b"-ERR send USER first\r\n"  # the injected USER never counted
    tls.close()


def test_per_ip_cap(start_pop3: StartPop3) -> None:
    pop3 = start_pop3(trusted=False, limits=Limits(max_connections_per_ip=2))
    a, b = pop3.raw(), pop3.raw()
    assert a.greeting.startswith(b"+OK") and b.greeting.startswith(b"+OK")
    c = pop3.raw()
    assert c.greeting == b"-ERR [SYS/TEMP] too many connections from your address"
    assert c.closed()
    a.cmd(b"QUIT")
    assert a.closed()
    for _ in range(100):  # the slot frees once the server has seen the close
        d = pop3.raw()
        if d.greeting.startswith(b"+OK"):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the slot never freed")


def test_trusted_addresses_have_no_cap(start_pop3: StartPop3) -> None:
    pop3 = start_pop3(limits=Limits(max_connections_per_ip=1))
    clients = [pop3.raw() for _ in range(3)]
    assert all(c.greeting.startswith(b"+OK") for c in clients)
