"""`RmailSMTP.push` awaits `StreamWriter.drain` only when asyncio's flow-control flags say it
would wait or raise: the protocol's ``_paused`` (the transport's buffer is over its high-water
mark) and ``_connection_lost``. These are asyncio internals; this pins them on a real
connection, so a Python that renames them fails here rather than losing back-pressure."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from rmail.smtp.protocol import RmailSMTP


async def test_flow_control_flags_push_relies_on() -> None:
    assert issubclass(RmailSMTP, asyncio.StreamReaderProtocol)
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    transport, _ = await loop.connect_accepted_socket(lambda: protocol, ours)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    assert protocol._paused is False and protocol._connection_lost is False  # type: ignore[attr-defined]

    transport.set_write_buffer_limits(high=1024)
    chunk = b"x" * 65536
    for _ in range(64):  # the peer reads nothing: the kernel's buffer fills, then asyncio's
        writer.write(chunk)
        if protocol._paused:  # type: ignore[attr-defined]
            break
    assert protocol._paused is True  # type: ignore[attr-defined]
    drain = asyncio.ensure_future(writer.drain())
    await asyncio.sleep(0.05)
    assert not drain.done()  # drain waits exactly while _paused is set

    theirs.close()  # the peer goes: the write fails, asyncio loses the connection
    for _ in range(500):
        if protocol._connection_lost:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.01)
    assert protocol._connection_lost is True  # type: ignore[attr-defined]
    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(drain, 10)  # the waiting drain is released
    with pytest.raises(ConnectionError):
        await writer.drain()  # and a later one raises, as push's slow path then does
    transport.close()
