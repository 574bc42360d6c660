"""`Server.stop` races: two stops at once, a stop while the server is still starting, and
a stop requested from another thread. Each must end with everything torn down (no session
or background task left, every port refused) and never hang."""

from __future__ import annotations

import asyncio

import pytest

from rmail.config import Config
from rmail.server import LISTENER_FACTORIES, ListenerContext, Server, StreamListener
from tests.test_server import refused, serve_in_background

GUARD = 60  # a hang guard, not a timing assertion


def rmail_tasks() -> list[str]:
    """Background tasks of rmail still alive in this loop (reminders, queue, indexer...)."""
    me = asyncio.current_task()
    return sorted(t.get_name() for t in asyncio.all_tasks()
                  if t is not me and not t.done() and t.get_name().startswith("rmail-"))


def hanging_imap(monkeypatch: pytest.MonkeyPatch, started: asyncio.Event,
                 said_bye: asyncio.Event) -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            writer.write(b"* BYE shutting down\r\n")
            said_bye.set()
            raise

    async def factory(ctx: ListenerContext) -> StreamListener:
        return StreamListener(ctx, hang, grace=0.2)

    monkeypatch.setitem(LISTENER_FACTORIES, "imap", factory)


async def test_two_stops_racing_both_wait_for_the_whole_teardown(
    tmp_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, said_bye = asyncio.Event(), asyncio.Event()
    hanging_imap(monkeypatch, started, said_bye)
    # one worker: the factory is patched in this process only
    config = tmp_config.with_overrides(listeners={"imap": {"enabled": True}}, workers=1)
    server = Server(config)
    await server.start()
    addresses = list(server.addresses.values())
    reader, writer = await asyncio.open_connection(*server.addresses["imap"])
    await asyncio.wait_for(started.wait(), GUARD)
    first = asyncio.create_task(server.stop())
    await asyncio.sleep(0)  # the first stop is draining the session
    second = asyncio.create_task(server.stop())
    await asyncio.wait_for(second, GUARD)
    # the second stop returned only after the first one's drain ended the session
    assert said_bye.is_set()
    assert await reader.readline() == b"* BYE shutting down\r\n"
    await asyncio.wait_for(first, GUARD)
    assert rmail_tasks() == []
    assert all(refused(host, port) for host, port in addresses)
    await asyncio.wait_for(server.stop(), GUARD)  # and a third, later, returns at once
    writer.close()


async def test_stop_while_starting_undoes_the_whole_start(
    tmp_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(ctx: ListenerContext) -> StreamListener:
        entered.set()
        await release.wait()  # the server is mid-start: some listeners set up, none serving

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readline())

        return StreamListener(ctx, echo)

    monkeypatch.setitem(LISTENER_FACTORIES, "pop3", slow)
    # one worker: the factory is patched in this process only
    config = tmp_config.with_overrides(listeners={"pop3": {"enabled": True}}, workers=1)
    server = Server(config)
    start = asyncio.create_task(server.start())
    await asyncio.wait_for(entered.wait(), GUARD)
    stop = asyncio.create_task(server.stop())
    await asyncio.sleep(0)
    assert not stop.done()  # it waits for the start to settle
    release.set()
    await asyncio.wait_for(asyncio.gather(start, stop, return_exceptions=True), GUARD)
    assert rmail_tasks() == []  # the background work the start began is stopped too
    assert server.addresses and all(refused(h, p) for h, p in server.addresses.values())
    with pytest.raises(RuntimeError, match="shutdown"):
        await server.core.run(int)  # the Services it built are closed
    with pytest.raises(RuntimeError, match="stopped"):
        await server.start()


async def test_cancelled_start_leaves_nothing(
    tmp_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered = asyncio.Event()

    async def stuck(ctx: ListenerContext) -> StreamListener:
        entered.set()
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    monkeypatch.setitem(LISTENER_FACTORIES, "pop3", stuck)
    config = tmp_config.with_overrides(listeners={"pop3": {"enabled": True}}, workers=1)
    server = Server(config)
    start = asyncio.create_task(server.start())
    await asyncio.wait_for(entered.wait(), GUARD)
    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(start, GUARD)
    assert rmail_tasks() == []
    assert all(refused(h, p) for h, p in server.addresses.values())


async def test_request_stop_from_another_thread_wakes_serve(tmp_config: Config) -> None:
    server, task = await serve_in_background(tmp_config, announce=None)
    addresses = list(server.addresses.values())
    await asyncio.to_thread(server.request_stop)  # e.g. a supervisor thread or a test
    await asyncio.wait_for(task, GUARD)
    assert rmail_tasks() == []
    assert all(refused(host, port) for host, port in addresses)
