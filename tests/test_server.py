"""The server: bind-then-serve, /healthz over TLS, listener registry, signals, subprocess."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from rmail import __version__
from rmail.config import Config
from rmail.server import (
    IMPLICIT_TLS,
    LISTENER_FACTORIES,
    LISTENER_TLS,
    ListenerContext,
    Server,
    StartupError,
    StreamListener,
    describe,
    run,
    serve,
)
from rmail.store.accounts import Accounts
from rmail.tls import client_context_trusting

REPO = Path(__file__).resolve().parent.parent
StartServer = Callable[..., Awaitable[Server]]


async def get_json(url: str, cert: Path | None) -> tuple[int, object]:
    ssl = client_context_trusting(cert) if cert is not None else True
    async with aiohttp.ClientSession() as session, session.get(url, ssl=ssl) as response:
        return response.status, await response.json()


def refused(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


async def serve_in_background(
    config: Config, **kwargs: object
) -> tuple[Server, asyncio.Task[None]]:
    """Run `serve` as a task; return once it is ready (or raise what startup raised)."""
    loop = asyncio.get_running_loop()
    started: asyncio.Future[Server] = loop.create_future()
    task = asyncio.create_task(serve(config, ready=started.set_result, **kwargs))  # type: ignore[arg-type]
    waiters: list[asyncio.Future[object]] = [task, started]  # type: ignore[list-item]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        await task  # raises the startup error
        raise AssertionError("serve returned before it was ready")
    return started.result(), task


# --- /healthz ----------------------------------------------------------------------------


async def test_healthz_over_tls(tmp_config: Config, start_server: StartServer) -> None:
    server = await start_server(tmp_config)
    host, port = server.addresses["http"]
    assert (host, port != 0) == ("127.0.0.1", True)
    assert server.url() == f"https://127.0.0.1:{port}/"
    assert server.cert_path == tmp_config.mail_root / "tls" / "cert.pem"
    status, body = await get_json(server.url() + "healthz", server.cert_path)
    assert status == 200
    assert isinstance(body, dict)
    assert body["rss"]["1"] > 0
    assert 1 <= body["worker"] <= server.workers  # whichever worker accepted the connection
    assert {k: v for k, v in body.items() if k not in ("rss", "worker")} == \
        {"status": "ok", "version": __version__, "workers": server.workers}


async def test_healthz_plain_http(tmp_config: Config, start_server: StartServer) -> None:
    config = tmp_config.with_overrides(listeners={"http": {"tls": False}})
    server = await start_server(config)
    assert server.url().startswith("http://127.0.0.1:")
    status, body = await get_json(server.url() + "healthz", None)
    assert status == 200 and isinstance(body, dict)
    assert (body["status"], body["version"]) == ("ok", __version__)


async def test_mail_root_is_created_private(tmp_config: Config, start_server: StartServer) -> None:
    assert not tmp_config.mail_root.exists()
    await start_server(tmp_config)
    assert stat.S_IMODE(tmp_config.mail_root.stat().st_mode) == 0o700


async def test_configured_domains_are_created(
    tmp_config: Config, start_server: StartServer
) -> None:
    config = tmp_config.with_overrides(domains=["example.com", "bücher.example"])
    accounts = Accounts(config.mail_root)
    await start_server(config)
    assert accounts.domains() == ["example.com", "xn--bcher-kva.example"]
    await start_server(config.with_overrides(listeners={"http": {"port": 0}}))  # exist_ok
    assert accounts.domains() == ["example.com", "xn--bcher-kva.example"]


# --- startup ---------------------------------------------------------------------------


async def test_port_conflict_fails_before_anything_serves(
    tmp_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_up: list[str] = []

    async def imap_factory(ctx: ListenerContext) -> StreamListener:
        set_up.append(ctx.name)
        return StreamListener(ctx, lambda r, w: asyncio.sleep(0))

    monkeypatch.setitem(LISTENER_FACTORIES, "imap", imap_factory)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        config = tmp_config.with_overrides(
            listeners={"imap": {"enabled": True, "port": 0}, "http": {"port": port}}
        )
        server = Server(config)
        with pytest.raises(StartupError) as info:
            await server.start()
    assert str(info.value).startswith(f"listeners.http: cannot bind 127.0.0.1:{port}: ")
    assert "in use" in str(info.value)
    assert set_up == []  # no factory ran, so nothing ever served
    imap_port = server.addresses["imap"][1]
    assert refused("127.0.0.1", imap_port)  # the socket bound before the failure is closed


async def test_serve_reports_startup_error(
    tmp_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        config = tmp_config.with_overrides(listeners={"http": {"port": port}})
        with pytest.raises(StartupError, match=r"^listeners\.http: "):
            await serve(config)
    assert capsys.readouterr().out == ""  # nothing announced


def test_run_returns_1_on_startup_error(
    tmp_config: Config, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_config.with_overrides(
        tls={"cert": tmp_path / "missing.pem", "key": tmp_path / "missing.key"}
    )
    assert run(config) == 1
    err = capsys.readouterr().err
    assert err.startswith("rmail: tmp_config: tls.cert: file not found")


async def test_unimplemented_listener_is_reported_and_skipped(
    tmp_config: Config,
    start_server: StartServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(LISTENER_FACTORIES, "imap", raising=False)
    config = tmp_config.with_overrides(listeners={"imap": {"enabled": True, "port": 0}})
    with caplog.at_level(logging.WARNING, logger="rmail.server"):
        server = await start_server(config)
    assert server.skipped == ["imap"]
    assert "imap" not in server.addresses
    assert "imap: not implemented yet, skipped" in caplog.text
    assert re.search(
        r"imap +127\.0\.0\.1:0 +STARTTLS +not implemented yet, skipped", server.describe()
    )


async def test_announces_actual_ports(
    tmp_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    server, task = await serve_in_background(tmp_config)
    port = server.addresses["http"][1]
    out = capsys.readouterr().out
    assert f"http         https://127.0.0.1:{port}/\n" in out
    assert f"healthz      https://127.0.0.1:{port}/healthz\n" in out
    assert "imap         disabled" in out
    server.request_stop()
    await task


def test_describe_lists_every_listener() -> None:
    config = Config.from_dict(
        {
            "hostname": "mail.example",
            "mail_root": "/srv/mail",
            "listeners": {"pop3": {"enabled": False}, "http": {"host": "0.0.0.0"}},
        }
    )
    text = describe(config)
    assert text.splitlines()[0] == f"rmail {__version__} on mail.example"
    assert "/srv/mail" in text
    # A wildcard address is shown as the hostname.
    assert "https://mail.example:9003/healthz" in text
    assert re.search(r"submissions +127\.0\.0\.1:465 +implicit TLS", text)
    assert re.search(r"smtp +127\.0\.0\.1:25 +STARTTLS", text)
    assert re.search(r"lmtp +127\.0\.0\.1:24 +plain", text)
    assert re.search(r"pop3 +disabled", text)
    assert re.search(r"^  pop3s +127\.0\.0\.1:995 +implicit TLS$", text, re.M)  # implemented
    assert "not implemented" not in text
    ipv6 = config.with_overrides(listeners={"http": {"host": "::1", "tls": False}})
    assert "http://[::1]:9003/" in describe(ipv6)


# --- the listener registry ------------------------------------------------------------


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        writer.write(line)
        await writer.drain()


async def test_registered_listener_with_implicit_tls(
    tmp_config: Config, start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    contexts: list[ListenerContext] = []

    async def factory(ctx: ListenerContext) -> StreamListener:
        contexts.append(ctx)
        return StreamListener(ctx, echo)

    monkeypatch.setitem(LISTENER_FACTORIES, "imaps", factory)
    # one worker: the factory is patched in this process only
    config = tmp_config.with_overrides(listeners={"imaps": {"enabled": True}}, workers=1)
    server = await start_server(config, store="a service")
    (ctx,) = contexts
    assert ctx.name == "imaps"
    assert ctx.tls_mode == IMPLICIT_TLS
    assert ctx.implicit_ssl is ctx.ssl_context
    assert ctx.services["store"] == "a service"
    assert ctx.core is server.core  # the server built the process's Services
    assert "imaps" in server.describe()

    host, port = server.addresses["imaps"]
    reader, writer = await asyncio.open_connection(
        host,
        port,
        ssl=client_context_trusting(server.cert_path),  # type: ignore[arg-type]
    )
    writer.write(b"a1 NOOP\r\n")
    assert await reader.readline() == b"a1 NOOP\r\n"
    writer.close()
    await writer.wait_closed()


async def test_stream_listener_cancels_sessions_after_grace(
    tmp_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    cancelled = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            writer.write(b"* BYE shutting down\r\n")
            cancelled.set()
            raise

    async def factory(ctx: ListenerContext) -> StreamListener:
        return StreamListener(ctx, hang, grace=0.1)

    monkeypatch.setitem(LISTENER_FACTORIES, "imap", factory)
    # one worker: the factory is patched in this process only
    config = tmp_config.with_overrides(listeners={"imap": {"enabled": True}}, workers=1)
    server = Server(config)
    await server.start()
    reader, writer = await asyncio.open_connection(*server.addresses["imap"])
    await asyncio.sleep(0.05)  # let the session start
    await asyncio.wait_for(server.stop(), 5)
    assert cancelled.is_set()
    assert await reader.readline() == b"* BYE shutting down\r\n"
    writer.close()
    await writer.wait_closed()


async def test_factory_given_as_import_path(tmp_config: Config) -> None:
    async with Server(tmp_config, factories={"http": "rmail.server:http_listener"}) as server:
        status, _ = await get_json(server.url() + "healthz", server.cert_path)
        assert status == 200


async def test_failing_factory_leaves_nothing_bound(
    tmp_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(ctx: ListenerContext) -> StreamListener:
        raise RuntimeError("broken factory")

    monkeypatch.setitem(LISTENER_FACTORIES, "pop3", broken)
    # one worker: the factory is patched in this process only
    config = tmp_config.with_overrides(listeners={"pop3": {"enabled": True}}, workers=1)
    server = Server(config)
    with pytest.raises(RuntimeError, match="broken factory"):
        await server.start()
    for host, port in server.addresses.values():
        assert refused(host, port)


# --- graceful stop -------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_stops_gracefully(tmp_config: Config, sig: signal.Signals) -> None:
    server, task = await serve_in_background(tmp_config, announce=None)
    host, port = server.addresses["http"]
    assert (await get_json(server.url() + "healthz", server.cert_path))[0] == 200
    os.kill(os.getpid(), sig)
    await asyncio.wait_for(task, 15)  # serve returns normally
    assert refused(host, port)


async def test_on_started_runs_before_ready(tmp_config: Config) -> None:
    order: list[str] = []

    async def on_started(server: Server) -> None:
        order.append("on_started")

    server, task = await serve_in_background(tmp_config, announce=None, on_started=on_started)
    order.append("ready")
    server.request_stop()
    await task
    assert order == ["on_started", "ready"]


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_real_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    config_file = tmp_path / "config.json"
    disabled = ("smtp", "submission", "submissions", "lmtp", "imap", "pop3", "pop3s")
    listeners = {name: {"enabled": False} for name in disabled}
    listeners["http"] = {"enabled": True, "port": 0}  # type: ignore[dict-item]
    config_file.write_text(
        json.dumps({"hostname": "localhost", "mail_root": "store", "listeners": listeners,
                    "workers": 2})
    )
    code = (
        "import sys; from rmail.config import load_config; from rmail.server import run; "
        "sys.exit(run(load_config(sys.argv[1])))"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(config_file)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = None
            for line in proc.stdout:
                if match := re.search(r"healthz +(https://\S+)", line):
                    url = match.group(1)
                    break
            assert url is not None, proc.stderr.read() if proc.stderr else ""
            cert = tmp_path / "store" / "tls" / "cert.pem"
            status, body = asyncio.run(get_json(url, cert))
            assert status == 200
            assert isinstance(body, dict)
            assert (body["status"], body["version"], body["workers"]) == ("ok", __version__, 2)
            assert sorted(body["rss"]) == ["1", "2"]  # RSS per worker, in bytes
            workers = children(proc.pid)
            assert len(workers) == 2
            assert cmdline(proc.pid) == "rmail: supervisor"
            assert sorted(cmdline(pid) for pid in workers) == ["rmail: worker 1",
                                                               "rmail: worker 2"]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
            assert not [pid for pid in workers if alive(pid)]  # no orphan left behind
            stderr = proc.stderr.read() if proc.stderr else ""
            # Some listeners disabled; the others are enabled, maybe not implemented yet.
            for name in LISTENER_TLS:
                if name not in disabled and name not in LISTENER_FACTORIES:
                    assert f"{name}: not implemented yet, skipped" in stderr
            assert "Traceback" not in stderr
        finally:
            if proc.poll() is None:
                proc.kill()


POOLS = ("rmail-store", "rmail-argon2", "rmail-fsync")


async def test_stop_closes_every_pool_of_the_services_it_built(tmp_config: Config) -> None:
    """Store work and password hashing run on the Services' own pools (nothing at import, no
    `asyncio.to_thread`), and a server that built its Services shuts those pools at stop."""
    import threading

    # Only this server's threads count: stores other tests built without Services made their
    # own fsync pools, which live in this process until it exits.
    before = set(threading.enumerate())
    server = Server(tmp_config)
    await server.start()
    core = server.core
    try:
        on_store = await core.run(lambda: threading.current_thread().name)
        on_password = await core.run_password(lambda: threading.current_thread().name)
        assert on_store.startswith("rmail-store") and on_password.startswith("rmail-argon2")
    finally:
        await server.stop()
    for pool_run in (core.run, core.run_password):
        with pytest.raises(RuntimeError, match="shutdown"):
            await pool_run(int)
    assert not [t.name for t in set(threading.enumerate()) - before
                if t.name.startswith(POOLS)]
