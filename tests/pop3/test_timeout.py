"""The idle timeout: a silent client is logged out; a slow but live download is never cut."""

from __future__ import annotations

import socket
import time

from rmail.pop3.session import Limits
from tests.pop3.conftest import ADDRESS, PASSWORD, RawClient, StartPop3, message


def test_idle_client_is_logged_out(start_pop3: StartPop3) -> None:
    pop3 = start_pop3(limits=Limits(timeout=0.5))
    raw = pop3.raw()
    assert raw.line() == b"-ERR autologout: idle for too long"
    assert raw.closed()


def test_slow_retr_is_not_cut(start_pop3: StartPop3) -> None:
    """The timeout (2 s here) applies between commands; a RETR that takes longer because the
    client reads slowly goes on as long as the client keeps taking data."""
    pop3 = start_pop3(limits=Limits(timeout=2.0))
    raw_msg = message(1, size=3_000_000)
    pop3.deliver(raw_msg)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # make the server wait
    sock.connect(pop3.addr("pop3"))
    sock.settimeout(30)
    client = RawClient.__new__(RawClient)
    client.sock, client.buf = sock, b""
    pop3.clients.append(client)
    assert client.line().startswith(b"+OK")
    client.cmd(b"USER " + ADDRESS.encode())
    assert client.cmd(b"PASS " + PASSWORD.encode()).startswith(b"+OK")
    sock.sendall(b"RETR 1\r\n")
    got = bytearray()
    # at most 16 KiB per read and 20 ms between reads: more than 180 reads, so the transfer
    # takes longer than the timeout by construction
    # (the last bytes may sit in socket buffers long enough for the idle timer to fire after
    # the server has handed them over: then `-ERR autologout` follows them)
    while b"\r\n.\r\n" not in got:
        chunk = sock.recv(16 * 1024)
        assert chunk, "the server closed the connection mid-transfer"
        got += chunk
        time.sleep(0.02)
    head, _, body = bytes(got).partition(b"\r\n")
    assert head == b"+OK %d octets" % len(raw_msg)
    assert body.partition(b"\r\n.\r\n")[0] + b"\r\n" == raw_msg
