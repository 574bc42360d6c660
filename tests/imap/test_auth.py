"""LOGIN, AUTHENTICATE (PLAIN, LOGIN, SASL-IR), failures and the shared lockout."""

from __future__ import annotations

import base64
import imaplib

import pytest

from tests.imap.conftest import DOMAIN, PASSWORD, USER, ImapServer, StartImap

B64 = base64.b64encode


def test_login_ok_and_state_change(imap: ImapServer) -> None:
    c = imap.raw()
    assert c.cmd(b"a", b"SELECT INBOX") == [
        b"a BAD SELECT is not allowed in the not authenticated state"]
    lines = c.cmd(b"b", b'LOGIN alice "' + PASSWORD.encode() + b'"')
    assert lines[-1].startswith(b"b OK [CAPABILITY IMAP4rev1 ") and lines[-1].endswith(
        b"] Logged in")
    assert c.cmd(b"c", b'LOGIN alice "x"') == [
        b"c BAD LOGIN is not allowed in the authenticated state"]


def test_login_with_literals_and_full_address(imap: ImapServer) -> None:
    c = imap.raw()
    user = f"{USER}@{DOMAIN}".encode()
    c.send(b"a LOGIN {%d}\r\n" % len(user))
    assert c.line() == b"+ Ready for literal data"
    c.send(user + b" {%d+}\r\n" % len(PASSWORD) + PASSWORD.encode() + b"\r\n")
    assert c.until_tagged(b"a")[-1].endswith(b"Logged in")


def test_login_failure(imap: ImapServer) -> None:
    c = imap.raw()
    assert c.cmd(b"a", b"LOGIN alice wrong") == [
        b"a NO [AUTHENTICATIONFAILED] invalid credentials"]
    assert c.cmd(b"b", b"LOGIN nobody wrong") == [
        b"b NO [AUTHENTICATIONFAILED] invalid credentials"]


def test_authenticate_plain_with_initial_response(imap: ImapServer) -> None:
    c = imap.raw()
    ir = B64(b"\0" + USER.encode() + b"\0" + PASSWORD.encode())
    assert c.cmd(b"a", b"AUTHENTICATE PLAIN " + ir)[-1].endswith(b"Logged in")


def test_authenticate_plain_with_challenge(imap: ImapServer) -> None:
    c = imap.raw()
    c.send(b"a AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(B64(USER.encode() + b"\0" + USER.encode() + b"\0" + PASSWORD.encode()) + b"\r\n")
    assert c.until_tagged(b"a")[-1].endswith(b"Logged in")


def test_authenticate_login(imap: ImapServer) -> None:
    c = imap.raw()
    c.send(b"a AUTHENTICATE LOGIN\r\n")
    assert c.line() == b"+ " + B64(b"Username:")
    c.send(B64(USER.encode()) + b"\r\n")
    assert c.line() == b"+ " + B64(b"Password:")
    c.send(B64(PASSWORD.encode()) + b"\r\n")
    assert c.until_tagged(b"a")[-1].endswith(b"Logged in")


def test_authenticate_login_with_initial_response(imap: ImapServer) -> None:
    c = imap.raw()
    c.send(b"a AUTHENTICATE LOGIN " + B64(USER.encode()) + b"\r\n")
    assert c.line() == b"+ " + B64(b"Password:")
    c.send(B64(PASSWORD.encode()) + b"\r\n")
    assert c.until_tagged(b"a")[-1].endswith(b"Logged in")


def test_authenticate_cancel_and_garbage(imap: ImapServer) -> None:
    c = imap.raw()
    c.send(b"a AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(b"*\r\n")
    assert c.until_tagged(b"a") == [b"a BAD AUTHENTICATE cancelled"]
    c.send(b"b AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(b"!!!notbase64\r\n")
    assert c.until_tagged(b"b") == [b"b BAD malformed SASL response: invalid base64"]
    assert c.cmd(b"c", b"AUTHENTICATE CRAM-MD5") == [
        b"c NO [CANNOT] unsupported mechanism CRAM-MD5"]
    other = B64(b"bob\0alice\0" + PASSWORD.encode())
    assert c.cmd(b"d", b"AUTHENTICATE PLAIN " + other) == [
        b"d NO [AUTHORIZATIONFAILED] acting as another user is not supported"]


def test_imaplib_login_and_authenticate(imap: ImapServer) -> None:
    c = imap.connect()
    assert c.login(USER, PASSWORD)[0] == "OK"
    c.logout()
    c = imap.connect()
    typ, _ = c.authenticate("PLAIN", lambda _: b"\0" + USER.encode() + b"\0" + PASSWORD.encode())
    assert typ == "OK"
    c.logout()
    c = imap.connect()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.login(USER, "nope")


def test_lockout_is_shared(start_imap: StartImap) -> None:
    imap = start_imap(trusted=False, security={"trusted_networks": [], "lockout_attempts": 3})
    c = imap.connect_ssl()
    for _ in range(3):
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            c.login(USER, "wrong")
    with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
        c.login(USER, PASSWORD)
    assert imap.core.lockout.is_locked("127.0.0.1")  # the same lockout every protocol uses
    other = imap.connect_ssl()
    with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
        other.login(USER, PASSWORD)
