"""Greeting, CAPABILITY, NOOP, LOGOUT, STARTTLS/LOGINDISABLED, implicit TLS, COMPRESS=DEFLATE,
autologout and the per-IP connection cap."""

from __future__ import annotations

import imaplib
import socket
import ssl
import time
import zlib

import pytest

from rmail.imap.server import Limits
from tests.imap.conftest import PASSWORD, TIMEOUT, USER, ImapServer, StartImap, message


def caps_of(line: bytes) -> set[str]:
    text = line.decode()
    inner = text[text.index("[CAPABILITY ") + 12:text.index("]")]
    return set(inner.split())


def test_greeting_and_capability(imap: ImapServer) -> None:
    c = imap.raw()
    assert c.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    assert c.greeting.endswith(b"ready")
    caps = caps_of(c.greeting)
    # loopback is trusted: plaintext auth allowed, STARTTLS still offered
    assert {"STARTTLS", "AUTH=PLAIN", "AUTH=LOGIN", "SASL-IR", "IDLE", "UIDPLUS", "MOVE",
            "CONDSTORE", "QRESYNC", "LITERAL+", "APPENDLIMIT=52428800"} <= caps
    assert "LOGINDISABLED" not in caps
    lines = c.cmd(b"a1", b"CAPABILITY")
    assert lines[0] == b"* CAPABILITY " + c.greeting[len(b"* OK [CAPABILITY "):
                                                    c.greeting.index(b"]")]
    assert lines[1] == b"a1 OK CAPABILITY completed"


def test_noop_and_logout(imap: ImapServer) -> None:
    c = imap.raw()
    assert c.cmd(b"a", b"NOOP") == [b"a OK NOOP completed"]
    assert c.cmd(b"b", b"LOGOUT") == [b"* BYE logging out", b"b OK LOGOUT completed"]
    assert c.closed()


def test_capabilities_after_login_drop_auth(imap: ImapServer) -> None:
    c = imap.raw()
    lines = c.cmd(b"a", b'LOGIN alice "' + PASSWORD.encode() + b'"')
    caps = caps_of(lines[-1])
    assert "STARTTLS" not in caps and not any(x.startswith("AUTH=") for x in caps)
    assert "COMPRESS=DEFLATE" in caps


def test_untrusted_plaintext_has_logindisabled(start_imap: StartImap) -> None:
    imap = start_imap(trusted=False)
    c = imap.raw()
    caps = caps_of(c.greeting)
    assert "LOGINDISABLED" in caps and "STARTTLS" in caps
    assert not any(x.startswith("AUTH=") for x in caps)
    assert c.cmd(b"a", b'LOGIN alice "' + PASSWORD.encode() + b'"') == [
        b"a NO [PRIVACYREQUIRED] plaintext login is disabled; use STARTTLS first"]
    assert c.cmd(b"b", b"AUTHENTICATE PLAIN AGFsaWNlAHg=") == [
        b"b NO [PRIVACYREQUIRED] plaintext login is disabled; use STARTTLS first"]


def test_starttls_then_login(start_imap: StartImap) -> None:
    imap = start_imap(trusted=False)
    c = imap.connect()
    with pytest.raises(imaplib.IMAP4.error):
        c.login(USER, PASSWORD)
    c.starttls(ssl_context=imap.ssl_context())
    assert "LOGINDISABLED" not in c.capabilities
    assert "STARTTLS" not in c.capabilities
    assert c.login(USER, PASSWORD)[0] == "OK"
    assert c.select("INBOX")[0] == "OK"
    c.logout()


def test_starttls_twice_is_bad(imap: ImapServer) -> None:
    c = imap.connect()
    c.starttls(ssl_context=imap.ssl_context())
    with pytest.raises(imaplib.IMAP4.error, match=r"BAD.*TLS is already active"):
        c._simple_command("STARTTLS")  # type: ignore[attr-defined]


def test_starttls_drops_pipelined_plaintext(imap: ImapServer) -> None:
    """Commands injected before the handshake must not run after it (RFC 3501 §6.2.1)."""
    sock = socket.create_connection((imap.host, imap.port), timeout=TIMEOUT)
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"a STARTTLS\r\nb NOOP\r\n")
    assert f.readline() == b"a OK Begin TLS negotiation now\r\n"
    tls = imap.ssl_context().wrap_socket(sock, server_hostname="localhost")
    tls.sendall(b"c NOOP\r\n")
    assert tls.recv(1000) == b"c OK NOOP completed\r\n"
    tls.close()


def test_implicit_tls(imap: ImapServer) -> None:
    imap.deliver(message(1))
    c = imap.connect_ssl()
    assert "STARTTLS" not in c.capabilities and "AUTH=PLAIN" in c.capabilities
    c.login(USER, PASSWORD)
    assert c.select("INBOX") == ("OK", [b"1"])
    c.logout()


def test_imaps_refuses_plaintext(imap: ImapServer) -> None:
    with socket.create_connection((imap.host, imap.ssl_port), timeout=TIMEOUT) as sock:
        sock.sendall(b"a NOOP\r\n")
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
        assert not data.startswith(b"* OK")


class DeflateClient:
    """A raw client that switches to COMPRESS=DEFLATE and flushes however the test likes."""

    def __init__(self, imap: ImapServer) -> None:
        self.raw = imap.raw()
        self.comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        self.decomp = zlib.decompressobj(-15)
        self.buf = b""

    def start(self) -> None:
        assert self.raw.cmd(b"z", b"COMPRESS DEFLATE") == [b"z OK DEFLATE active"]
        self.buf = self.decomp.decompress(self.raw.buf)
        self.raw.buf = b""

    def send(self, data: bytes, flush: int = zlib.Z_SYNC_FLUSH) -> None:
        self.raw.send(self.comp.compress(data) + self.comp.flush(flush))

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self.buf += self.decomp.decompress(self.raw.sock.recv(65536))
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def until(self, tag: bytes) -> list[bytes]:
        out = []
        while True:
            out.append(self.line())
            if out[-1].startswith(tag + b" "):
                return out


def test_compress_deflate(imap: ImapServer) -> None:
    imap.deliver(message(1, body="x" * 5000))
    c = DeflateClient(imap)
    c.raw.cmd(b"a", b'LOGIN alice "' + PASSWORD.encode() + b'"')
    c.start()
    c.send(b"b SELECT INBOX\r\n")
    assert c.until(b"b")[-1] == b"b OK [READ-WRITE] SELECT completed"
    # a command split across partial flushes, mid-line and mid-literal
    payload = b"From: a@b\r\n\r\n" + b"y" * 3000
    c.send(b"c APPEND INBOX {%d+}\r\n" % len(payload), zlib.Z_PARTIAL_FLUSH)
    time.sleep(0.05)
    c.send(payload[:1000], zlib.Z_PARTIAL_FLUSH)
    time.sleep(0.05)
    c.send(payload[1000:] + b"\r\n")
    lines = c.until(b"c")
    assert lines[:2] == [b"* 2 EXISTS", b"* 2 RECENT"]
    assert lines[2].startswith(b"c OK [APPENDUID ")
    c.send(b"d UID FETCH 2 BODY.PEEK[TEXT]\r\n")
    lines = c.until(b"d")
    assert lines[0] == b"* 2 FETCH (UID 2 BODY[TEXT] {3000}"
    assert lines[1] == b"y" * 3000 + b")"
    c.send(b"e COMPRESS DEFLATE\r\n")
    assert c.until(b"e")[-1] == b"e NO [COMPRESSIONACTIVE] compression is already active"


def test_compress_before_login_is_bad(imap: ImapServer) -> None:
    c = imap.raw()
    assert c.cmd(b"a", b"COMPRESS DEFLATE") == [
        b"a BAD COMPRESS is not allowed in the not authenticated state"]


def test_autologout(start_imap: StartImap) -> None:
    imap = start_imap(limits=Limits(autologout=0.5, unauth_timeout=0.5))
    c = imap.raw()
    assert c.closed()
    assert c.buf == b"* BYE Autologout; idle for too long\r\n"


def test_per_ip_connection_cap(start_imap: StartImap) -> None:
    imap = start_imap(limits=Limits(max_connections_per_ip=2), trusted=False)
    a, b = imap.raw(), imap.raw()
    with socket.create_connection((imap.host, imap.port), timeout=TIMEOUT) as sock:
        f = sock.makefile("rb")
        assert f.readline() == b"* BYE too many connections from your address\r\n"
        assert f.readline() == b""
    a.cmd(b"x", b"LOGOUT")
    assert a.closed()
    deadline = time.monotonic() + TIMEOUT
    while True:  # the slot frees once the server has finished with `a`
        c = imap.raw()
        if c.greeting.startswith(b"* OK"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert b.cmd(b"y", b"NOOP") == [b"y OK NOOP completed"]


def test_ssl_context_is_real_tls(imap: ImapServer) -> None:
    ctx = imap.ssl_context()
    with socket.create_connection((imap.host, imap.ssl_port), timeout=TIMEOUT) as sock, \
            ctx.wrap_socket(sock, server_hostname="localhost") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.recv(1000).startswith(b"* OK [CAPABILITY")
    assert isinstance(ctx, ssl.SSLContext)
