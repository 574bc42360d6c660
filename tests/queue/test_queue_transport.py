"""Routing (static route, smarthost, MX from DNS) with a fake resolver; no network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.resolver

from rmail.config import Config
from rmail.delivery.replies import Reply
from rmail.queue.transport import Hop, Transport


@dataclass
class MX:
    preference: int
    exchange: str


class FakeResolver:
    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = answers

    async def resolve(self, name: str, rdtype: str) -> Any:
        answer = self.answers.get((name, rdtype), dns.resolver.NoAnswer())
        if isinstance(answer, Exception):
            raise answer
        return answer


def transport(tmp_path: Path, answers: dict[tuple[str, str], Any], **relay: Any) -> Transport:
    config = Config.from_dict({"mail_root": str(tmp_path), "relay": relay})
    return Transport(config, resolver=FakeResolver(answers))


async def test_mx_by_preference(tmp_path: Path) -> None:
    t = transport(tmp_path, {("x.test", "MX"): [MX(20, "b.x.test."), MX(10, "a.x.test."),
                                                MX(20, "c.x.test.")]})
    hosts = await t.mx_hosts("x.test")
    assert hosts[0] == "a.x.test" and sorted(hosts[1:]) == ["b.x.test", "c.x.test"]
    hops = await t.hops("x.test")  # equal preferences come in random order
    assert hops[0] == Hop("a.x.test") and sorted(hops[1:], key=str) == \
        sorted([Hop("b.x.test"), Hop("c.x.test")], key=str)


async def test_implicit_mx_null_mx_and_errors(tmp_path: Path) -> None:
    t = transport(tmp_path, {
        ("a.test", "A"): ["192.0.2.1"],
        ("null.test", "MX"): [MX(0, ".")],
        ("gone.test", "MX"): dns.resolver.NXDOMAIN(),
        ("slow.test", "MX"): dns.resolver.LifetimeTimeout(timeout=1.0, errors=[]),
    })
    assert await t.mx_hosts("a.test") == ["a.test"]
    null = await t.mx_hosts("null.test")
    assert isinstance(null, Reply) and (null.code, null.status) == (556, "5.1.10")
    gone = await t.mx_hosts("gone.test")
    assert isinstance(gone, Reply) and gone.permanent and gone.status == "5.1.2"
    slow = await t.mx_hosts("slow.test")
    assert isinstance(slow, Reply) and slow.temporary
    nothing = await t.mx_hosts("empty.test")  # neither MX nor addresses
    assert isinstance(nothing, Reply) and nothing.permanent


async def test_routes_win_over_smarthost_and_dns(tmp_path: Path) -> None:
    t = transport(tmp_path, {}, smarthost={"host": "relay.isp.test", "port": 587,
                                           "tls": "starttls", "username": "u",
                                           "password": "p"},
                  routes={"x.test": "10.0.0.5:2525"})
    assert await t.hops("x.test") == [Hop("10.0.0.5", 2525)]
    assert await t.hops("y.test") == [Hop("relay.isp.test", 587, "starttls", "u", "p")]


def test_unreachable_hosts_are_a_temporary_failure(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens
    t = transport(tmp_path, {})
    replies, mta = t.send([Hop("127.0.0.1", port), Hop("127.0.0.1", port)], "a@example.com",
                          ["b@x.test"], b"Subject: x\r\n\r\ny\r\n")
    assert mta is None
    assert replies["b@x.test"].temporary and replies["b@x.test"].status == "4.4.1"
