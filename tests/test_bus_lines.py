"""The change bus's line reader (`rmail.bus._Lines`) over a real socketpair: messages split
across reads or packed into one, malformed and oversized lines, the peer going away."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import orjson
import pytest

from rmail import bus


async def _link() -> tuple[socket.socket, list[dict[str, Any]], list[bytes], bus._Lines]:
    ours, theirs = socket.socketpair()
    got: list[dict[str, Any]] = []
    lines: list[bytes] = []

    def handle(message: dict[str, Any], line: bytes) -> None:
        got.append(message)
        lines.append(line)

    _, protocol = await bus._connect(ours, handle)
    theirs.setblocking(False)
    return theirs, got, lines, protocol


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_messages_split_and_packed(caplog: pytest.LogCaptureFixture) -> None:
    peer, got, lines, protocol = await _link()
    first = bus.encode({"t": "change", "c": ["example.com", "bob", "append", "f1", 7, [1, 2]]})
    peer.send(first[:10])
    await _settle()
    assert got == []
    peer.send(first[10:] + bus.encode({"t": "ok", "ip": "192.0.2.1"}) + b'{"t": "fa')
    await _settle()
    assert [m["t"] for m in got] == ["change", "ok"]
    assert lines[0] == first  # relayed as received
    with caplog.at_level(logging.ERROR, logger="rmail.bus"):
        peer.send(b'il", "ip": "192.0.2.2"}\nnot json\n[1, 2]\n' + bus.encode({"t": "x"}))
        await _settle()
    assert [m["t"] for m in got] == ["change", "ok", "fail", "x"]  # a list is not a message
    assert "malformed message skipped" in caplog.text
    assert not protocol.done.done()
    peer.close()
    await asyncio.wait_for(asyncio.shield(protocol.done), 5)


@pytest.mark.parametrize("newline", [False, True])
async def test_a_line_over_the_limit_closes_the_link(caplog: pytest.LogCaptureFixture,
                                                     newline: bool) -> None:
    peer, got, _, protocol = await _link()
    huge = orjson.dumps({"t": "x", "pad": "y" * (bus.MAX_LINE + 10)}) + (b"\n" if newline
                                                                         else b"")
    with caplog.at_level(logging.ERROR, logger="rmail.bus"):
        sent = 0
        while sent < len(huge) and not protocol.done.done():
            try:
                sent += peer.send(huge[sent:sent + 65536])
            except BlockingIOError:
                pass
            await asyncio.sleep(0)
        await asyncio.wait_for(asyncio.shield(protocol.done), 5)
    assert got == []
    assert "longer than" in caplog.text
    peer.close()


async def test_a_line_of_exactly_the_limit_is_read() -> None:
    peer, got, _, protocol = await _link()
    head = b'{"t": "x", "pad": "'
    line = head + b"y" * (bus.MAX_LINE - len(head) - 2) + b'"}'
    assert len(line) == bus.MAX_LINE
    data = line + b"\n"
    sent = 0
    while sent < len(data):
        try:
            sent += peer.send(data[sent:sent + 65536])
        except BlockingIOError:
            await asyncio.sleep(0.01)
    for _ in range(200):
        if got:
            break
        await asyncio.sleep(0.01)
    assert [m["t"] for m in got] == ["x"]
    assert not protocol.done.done()
    peer.close()
    await asyncio.wait_for(asyncio.shield(protocol.done), 5)
