"""RFC 6856 through stdlib poplib: the UTF8 capability and command, LANG, and messages with
raw UTF-8 headers (RFC 6532) sent exactly as stored, before and after UTF8."""

from __future__ import annotations

import poplib

import pytest

from tests.pop3.conftest import ADDRESS, PASSWORD, Pop3Server

RAW = ("From: Jörg Müller <jorg@example.net>\r\nTo: alice@example.com\r\n"
       "Subject: Grüße aus Köln ✓\r\nMessage-ID: <u8@example.net>\r\n\r\n"
       "Schöne Grüße\r\n.dot-stuffed line\r\n").encode()


def retr(client: poplib.POP3, n: int) -> bytes:
    resp, lines, _ = client.retr(n)
    assert resp == b"+OK %d octets" % len(RAW)
    return b"\r\n".join(lines) + b"\r\n"


def test_utf8_mode_sends_messages_unaltered(pop3: Pop3Server) -> None:
    pop3.deliver(RAW)
    client = pop3.connect()
    caps = client.capa()
    assert "UTF8" in caps and "LANG" in caps
    assert client.utf8().startswith(b"+OK")
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    assert "UTF8" in client.capa()
    assert client.list(1) == b"+OK 1 %d" % len(RAW)
    assert retr(client, 1) == RAW
    _, top, _ = client.top(1, 0)
    assert top[2] == "Subject: Grüße aus Köln ✓".encode()
    with pytest.raises(poplib.error_proto):  # RFC 6856 §2: only before authentication
        client.utf8()
    client.quit()


def test_without_utf8_the_message_goes_out_as_is(pop3: Pop3Server) -> None:
    pop3.deliver(RAW)
    client = pop3.login()
    assert retr(client, 1) == RAW  # the as-is choice of RFC 6856 §2 (no downgrade)
    client.quit()


def test_lang(pop3: Pop3Server) -> None:
    client = pop3.connect()
    resp, lines, _ = client._longcmd("LANG")
    assert resp.startswith(b"+OK") and lines == [b"en English"]
    assert client._shortcmd("LANG en").startswith(b"+OK en ")
    assert client._shortcmd("LANG en-GB").startswith(b"+OK en ")  # lookup falls back
    assert client._shortcmd("LANG *").startswith(b"+OK en ")
    for bad in ("LANG fr", "LANG en us", "LANG e_n", "UTF8 now"):
        with pytest.raises(poplib.error_proto):
            client._shortcmd(bad)
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    assert client._shortcmd("LANG EN").startswith(b"+OK en ")  # valid in TRANSACTION too
    client.quit()
