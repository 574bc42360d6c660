"""Every RFC 1939 command and its errors through stdlib poplib, on plain, STLS and POP3S."""

from __future__ import annotations

import poplib

import pytest

from tests.pop3.conftest import ADDRESS, PASSWORD, Pop3Server, message


def _uidl(client: poplib.POP3) -> dict[int, str]:
    return {int(n): uid for n, uid in (line.decode().split() for line in client.uidl()[1])}


def test_greeting_and_capa(pop3: Pop3Server) -> None:
    client = pop3.connect()
    assert client.getwelcome().startswith(b"+OK")
    caps = client.capa()
    for cap in ("TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "STLS",
                "EXPIRE", "LOGIN-DELAY", "IMPLEMENTATION"):
        assert cap in caps, cap
    assert caps["SASL"] == ["PLAIN", "LOGIN"]
    assert caps["EXPIRE"] == ["NEVER"] and caps["LOGIN-DELAY"] == ["0"]
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    after = client.capa()
    assert "STLS" not in after and "USER" not in after and "SASL" not in after
    assert "UIDL" in after


def test_stat_list_retr_top_uidl(pop3: Pop3Server) -> None:
    raws = [message(i, size=300 * i) for i in range(1, 4)]
    uids = [pop3.deliver(r) for r in raws]
    client = pop3.login()
    assert client.stat() == (3, sum(len(r) for r in raws))
    resp, lines, _ = client.list()
    assert resp.startswith(b"+OK")
    assert lines == [b"%d %d" % (i + 1, len(r)) for i, r in enumerate(raws)]
    assert client.list(2) == b"+OK 2 %d" % len(raws[1])
    for i, raw in enumerate(raws, 1):
        resp, body, _octets = client.retr(i)
        assert b"\r\n".join(body) + b"\r\n" == raw
        assert resp == b"+OK %d octets" % len(raw)
    _, top, _ = client.top(1, 0)
    head = raws[0].split(b"\r\n\r\n")[0]
    assert top == [*head.split(b"\r\n"), b""]
    _, top1, _ = client.top(1, 1)
    assert top1 == [*top, b"hello"]
    uidvalidity = pop3.folder().uidvalidity
    assert _uidl(client) == {i + 1: f"{uidvalidity}.{u}" for i, u in enumerate(uids)}
    assert client.uidl(3) == f"+OK 3 {uidvalidity}.{uids[2]}".encode()
    assert client.noop() == b"+OK"
    assert client.quit().startswith(b"+OK")


def test_errors(pop3: Pop3Server) -> None:
    pop3.deliver(message(1))
    client = pop3.login()
    for call in (lambda: client.retr(2), lambda: client.list(5), lambda: client.dele(9),
                 lambda: client.top(3, 1), lambda: client.uidl(2)):
        with pytest.raises(poplib.error_proto, match="no message"):
            call()
    client.dele(1)
    with pytest.raises(poplib.error_proto, match="deleted"):
        client.retr(1)
    with pytest.raises(poplib.error_proto, match="deleted"):
        client.dele(1)
    assert client.stat() == (0, 0)
    assert client.list()[1] == []
    assert client.uidl()[1] == []
    with pytest.raises(poplib.error_proto, match="not allowed in the TRANSACTION"):
        client.user("x")
    with pytest.raises(poplib.error_proto, match="unknown command"):
        client._shortcmd("XTND XMIT")
    with pytest.raises(poplib.error_proto, match="APOP is not supported"):
        client._shortcmd("APOP a b")


def test_transaction_commands_refused_before_login(pop3: Pop3Server) -> None:
    client = pop3.connect()
    for cmd in ("STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 1", "UIDL"):
        with pytest.raises(poplib.error_proto, match="not allowed in the AUTHORIZATION"):
            client._shortcmd(cmd)
    with pytest.raises(poplib.error_proto, match="USER first"):
        client.pass_(PASSWORD)


def test_stls_then_login(start_pop3) -> None:  # type: ignore[no-untyped-def]
    pop3 = start_pop3(trusted=False)
    pop3.deliver(message(1))
    client = pop3.connect()
    assert "USER" not in client.capa()
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\].*STLS"):
        client.user(ADDRESS)
    client.stls(pop3.ssl_context())
    caps = client.capa()
    assert "STLS" not in caps and "USER" in caps
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    assert client.stat()[0] == 1
    with pytest.raises(poplib.error_proto):
        client._shortcmd("STLS")
    client.quit()


def test_pop3s(start_pop3) -> None:  # type: ignore[no-untyped-def]
    pop3 = start_pop3(trusted=False)
    raw = message(1, size=200_000)
    pop3.deliver(raw)
    client = pop3.connect_ssl()
    caps = client.capa()
    assert "STLS" not in caps and "USER" in caps
    with pytest.raises(poplib.error_proto, match="TLS is already active"):
        client._shortcmd("STLS")
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    _, body, _ = client.retr(1)
    assert b"\r\n".join(body) + b"\r\n" == raw
    client.quit()


def test_auth_plain_and_login(pop3: Pop3Server) -> None:
    import base64
    pop3.deliver(message(1))
    raw = pop3.raw()
    plain = base64.b64encode(f"\0{ADDRESS}\0{PASSWORD}".encode())
    assert raw.cmd(b"AUTH PLAIN " + plain).startswith(b"+OK")
    assert raw.cmd(b"STAT").startswith(b"+OK 1 ")
    assert raw.cmd(b"QUIT").startswith(b"+OK")

    raw = pop3.raw()
    assert raw.cmd(b"AUTH PLAIN") == b"+ "
    assert raw.cmd(plain).startswith(b"+OK")
    raw.cmd(b"QUIT")

    raw = pop3.raw()
    assert raw.cmd(b"AUTH LOGIN") == b"+ " + base64.b64encode(b"Username:")
    assert raw.cmd(base64.b64encode(ADDRESS.encode())) == b"+ " + base64.b64encode(b"Password:")
    assert raw.cmd(base64.b64encode(PASSWORD.encode())).startswith(b"+OK")
    raw.cmd(b"QUIT")

    raw = pop3.raw()
    assert raw.cmd(b"AUTH LOGIN") .startswith(b"+ ")
    assert raw.cmd(b"*") == b"-ERR AUTH cancelled"
    assert raw.cmd(b"AUTH PLAIN !!!").startswith(b"-ERR malformed SASL")
    assert raw.cmd(b"AUTH CRAM-MD5").startswith(b"-ERR unsupported SASL mechanism")
    raw.send(b"AUTH\r\n")
    assert raw.line().startswith(b"+OK") and raw.multiline() == [b"PLAIN", b"LOGIN"]


def test_sizes_are_what_retr_sends(pop3: Pop3Server) -> None:
    """A message stored with bare LFs and no final line end (IMAP APPEND, the API): LIST, STAT
    and RETR's +OK give the octets RETR sends (CRLF lines), dot-stuffing excluded."""
    raw = b"Subject: lf\n\nline\n.dot\r\nlast"
    pop3.deliver(raw)
    client = pop3.raw()
    client.cmd(b"USER " + ADDRESS.encode())
    client.cmd(b"PASS " + PASSWORD.encode())
    sent = b"Subject: lf\r\n\r\nline\r\n.dot\r\nlast\r\n"
    assert client.cmd(b"LIST 1") == b"+OK 1 %d" % len(sent)
    assert client.cmd(b"STAT") == b"+OK 1 %d" % len(sent)
    assert client.cmd(b"RETR 1") == b"+OK %d octets" % len(sent)
    assert client.multiline() == [b"Subject: lf", b"", b"line", b"..dot", b"last"]
