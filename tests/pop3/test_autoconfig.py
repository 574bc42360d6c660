"""Autoconfig's POP3 entries lead a client to a running listener; a disabled POP3 listener is
neither advertised nor listening."""

from __future__ import annotations

import poplib
import socket
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from tests.pop3.conftest import ADDRESS, PASSWORD, Pop3Server, StartPop3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _incoming(pop3: Pop3Server) -> list[tuple[str, int, str]]:
    port = pop3.addr("http")[1]
    url = f"https://127.0.0.1:{port}/mail/config-v1.1.xml?emailaddress={ADDRESS}"
    with urllib.request.urlopen(url, context=pop3.ssl_context(), timeout=30) as reply:
        root = ET.fromstring(reply.read())
    return [(e.get("type", ""), int(e.findtext("port") or 0), e.findtext("socketType") or "")
            for e in root.iter("incomingServer")]


def _start(start_pop3: StartPop3, *, pop3_enabled: bool) -> Pop3Server:
    ports = {name: _free_port() for name in ("pop3", "pop3s", "imap")}
    listeners = {name: {"enabled": True, "port": port} for name, port in ports.items()}
    listeners["pop3"]["enabled"] = listeners["pop3s"]["enabled"] = pop3_enabled
    listeners["http"] = {"enabled": True, "port": 0, "tls": True, "access_log": False}
    return start_pop3(trusted=False, listeners=listeners)


def test_advertised_pop3_listeners_run(start_pop3: StartPop3) -> None:
    try:
        pop3 = _start(start_pop3, pop3_enabled=True)
    except Exception as exc:  # a port taken between the probe and the bind
        pytest.skip(f"could not bind the chosen ports: {exc}")
    entries = [e for e in _incoming(pop3) if e[0] == "pop3"]
    assert sorted(e[2] for e in entries) == ["SSL", "STARTTLS"]
    for _, port, security in entries:
        if security == "SSL":
            client: poplib.POP3 = poplib.POP3_SSL("127.0.0.1", port, context=pop3.ssl_context(),
                                                  timeout=30)
        else:
            client = poplib.POP3("127.0.0.1", port, timeout=30)
            client.stls(pop3.ssl_context())
        pop3.clients.append(client)
        client.user(ADDRESS)
        client.pass_(PASSWORD)
        assert client.stat() == (0, 0)
        client.quit()


def test_disabled_pop3_not_advertised(start_pop3: StartPop3) -> None:
    try:
        pop3 = _start(start_pop3, pop3_enabled=False)
    except Exception as exc:
        pytest.skip(f"could not bind the chosen ports: {exc}")
    kinds = {e[0] for e in _incoming(pop3)}
    assert kinds == {"imap"}
    assert "pop3" not in pop3.server.addresses and "pop3s" not in pop3.server.addresses
