"""Wrong passwords, the lockout shared with IMAP, the per-account switch, plaintext refusal."""

from __future__ import annotations

import base64
import imaplib
import poplib

import pytest

from tests.pop3.conftest import ADDRESS, DOMAIN, PASSWORD, USER, Pop3Server, StartPop3


def test_wrong_password(pop3: Pop3Server) -> None:
    client = pop3.connect()
    client.user(ADDRESS)
    with pytest.raises(poplib.error_proto, match=r"^b'-ERR \[AUTH\] invalid credentials"):
        client.pass_("wrong")
    client.user("nobody@example.com")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_(PASSWORD)
    raw = pop3.raw()
    bad = base64.b64encode(f"\0{ADDRESS}\0nope".encode())
    assert raw.cmd(b"AUTH PLAIN " + bad) == b"-ERR [AUTH] invalid credentials"
    other = base64.b64encode(f"bob\0{ADDRESS}\0{PASSWORD}".encode())
    assert raw.cmd(b"AUTH PLAIN " + other).startswith(b"-ERR [AUTH]")
    client.user(ADDRESS)  # the session stays usable
    client.pass_(PASSWORD)
    client.quit()


def test_lockout_shared_with_imap(start_pop3: StartPop3) -> None:
    pop3 = start_pop3(trusted=False, security={"trusted_networks": [], "lockout_attempts": 3})
    client = pop3.connect_ssl()
    for _ in range(2):
        client.user(ADDRESS)
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client.pass_("wrong")
    # the third failure, over IMAP, locks the address out of POP3 too
    imap4 = imaplib.IMAP4("127.0.0.1", pop3.addr("imap")[1], timeout=30)
    pop3.clients.append(imap4)
    imap4.starttls(pop3.ssl_context())
    with pytest.raises(imaplib.IMAP4.error):
        imap4.login(ADDRESS, "wrong")
    client.user(ADDRESS)
    with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\]"):
        client.pass_(PASSWORD)  # even the right password
    assert pop3.core.lockout.is_locked("127.0.0.1")


def test_pop3_disabled_account(pop3: Pop3Server) -> None:
    pop3.core.accounts.update(DOMAIN, USER, pop3_enabled=False)
    client = pop3.connect()
    client.user(ADDRESS)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\] POP3 access is disabled"):
        client.pass_(PASSWORD)
    pop3.core.accounts.update(DOMAIN, USER, pop3_enabled=True)
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    client.quit()


def test_disabled_account(pop3: Pop3Server) -> None:
    pop3.core.accounts.update(DOMAIN, USER, enabled=False)
    client = pop3.connect()
    client.user(ADDRESS)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_(PASSWORD)


def test_plaintext_refused_before_stls(start_pop3: StartPop3) -> None:
    pop3 = start_pop3(trusted=False)
    raw = pop3.raw()
    assert raw.cmd(b"USER " + ADDRESS.encode()).startswith(b"-ERR [AUTH]")
    assert raw.cmd(b"PASS " + PASSWORD.encode()).startswith(b"-ERR [AUTH]")
    plain = base64.b64encode(f"\0{ADDRESS}\0{PASSWORD}".encode())
    assert raw.cmd(b"AUTH PLAIN " + plain).startswith(b"-ERR [AUTH]")
    raw.send(b"AUTH\r\n")
    assert raw.line().startswith(b"+OK") and raw.multiline() == []
    assert not pop3.core.lockout.is_locked("127.0.0.1")
