"""A server with two worker processes (issue 14): connections spread over the workers, one
change bus, shared lockout and tokens, durable \\Recent, singletons run once, crash recovery.

The test process is the supervisor (`Server` with ``workers: 2``); the workers are real
``python -m rmail.worker`` processes. Which worker holds a connection is read from /proc (the
accepted socket's inode belongs to exactly one worker).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import imaplib
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from rmail.config import LISTENER_NAMES, Config
from rmail.server import Server
from rmail.store.mailbox import MailStore
from tests.mailenv import DOMAIN, PASSWORD, password_hash
from tests.sockets import read_line

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")

WORKERS = 2
USER = f"alice@{DOMAIN}"


def worker_config(mail_root: Path, **overrides: Any) -> Config:
    listeners: dict[str, dict[str, object]] = {
        name: {"enabled": name in ("smtp", "submission", "lmtp", "imap", "http"), "port": 0}
        for name in LISTENER_NAMES
    }
    listeners["http"]["tls"] = False
    data: dict[str, Any] = {"hostname": "mx.example.com", "mail_root": str(mail_root),
                            "domains": [DOMAIN], "listeners": listeners, "workers": WORKERS}
    config = Config.from_dict(data, source="worker_config")
    return config.with_overrides(**overrides) if overrides else config


StartWorkers = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_workers(tmp_path: Path) -> AsyncIterator[StartWorkers]:
    """``server = await start_workers(**overrides)``: two workers on ``tmp_path/mailstore``
    with user alice; stopped after the test."""
    servers: list[Server] = []

    async def start(**overrides: Any) -> Server:
        config = worker_config(tmp_path / "mailstore", **overrides)
        server = Server(config)
        await server.start()
        servers.append(server)
        accounts = server.core.accounts
        if accounts.find_address(USER) is None:
            accounts.create(DOMAIN, "alice", password_hash(), quota_mb=1024)
        return server

    yield start
    for server in reversed(servers):
        await server.stop()


def _socket_inodes(pid: int) -> set[int]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def served_by(port: int, pids: dict[int, int],
              clients: set[int] | None = None) -> Counter[int]:
    """How many established connections to local ``port`` each worker holds (only those from
    the ``clients`` ports when given: a worker also holds whatever sockets the test process
    had open when it forked, which may include an old connection on a reused port)."""
    inherited = _socket_inodes(os.getpid())  # still open here too: not one a worker accepted
    inodes = {inode: index for index, pid in pids.items()
              for inode in _socket_inodes(pid) - inherited}
    counts: Counter[int] = Counter()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            local, state, inode = parts[1], parts[3], int(parts[9])
            remote = int(parts[2].rsplit(":", 1)[1], 16)
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port and inode in inodes \
                    and (clients is None or remote in clients):
                counts[inodes[inode]] += 1
    return counts


def insecure() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def imap_connect(server: Server, *, tls: bool = False) -> imaplib.IMAP4:
    """Connected (after STARTTLS with ``tls``: untrusted peers may not log in without it)."""
    host, port = server.addresses["imap"]
    client = imaplib.IMAP4(host, port, timeout=60)
    if tls:
        client.starttls(insecure())
    return client


def message(n: int, subject: str = "hello", sender: str = "sender@example.org") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = USER
    msg["Subject"] = f"{subject} {n}"
    msg["Message-ID"] = f"<m{n}@example.org>"
    msg.set_content(f"body {n}\n")
    return msg.as_bytes()


def inbox_ids(server: Server) -> set[str]:
    store = MailStore(server.config.mail_root)  # a fresh reader, as another process would be
    folder = store.mailbox(DOMAIN, "alice").folder("INBOX")
    ids = set()
    for uid in folder.uids():
        raw = folder.read_message(uid)
        for line in raw.split(b"\n"):
            if line.lower().startswith(b"message-id:"):
                ids.add(line.split(b":", 1)[1].strip().decode())
    return ids


async def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


# --- sockets ------------------------------------------------------------------------------


async def test_connections_spread_evenly(start_workers: StartWorkers) -> None:
    server = await start_workers()
    assert server.supervisor is not None and len(server.supervisor.pids) == WORKERS

    def connect_all() -> list[socket.socket]:
        socks = [socket.create_connection(server.addresses["imap"], timeout=60)
                 for _ in range(20)]
        for sock in socks:  # the greeting proves a worker accepted it
            assert sock.recv(100).startswith(b"* OK")
        return socks

    socks = await asyncio.to_thread(connect_all)
    try:
        counts = served_by(server.addresses["imap"][1], server.supervisor.pids,
                           {sock.getsockname()[1] for sock in socks})
        assert sum(counts.values()) == 20
        assert all(counts[i] >= 4 for i in range(1, WORKERS + 1)), counts  # a fifth each
    finally:
        for sock in socks:
            sock.close()


# --- the change bus -----------------------------------------------------------------------


async def test_idle_sessions_on_every_worker_see_an_smtp_delivery(
        start_workers: StartWorkers) -> None:
    server = await start_workers()
    assert server.supervisor is not None

    def idle_all() -> list[imaplib.IMAP4]:
        clients = []
        for _ in range(20):
            client = imap_connect(server)
            client.login(USER, PASSWORD)
            client.select("INBOX")
            tag = client._new_tag()  # type: ignore[attr-defined]
            client.send(tag + b" IDLE\r\n")
            assert client.readline().startswith(b"+")
            clients.append(client)
        return clients

    clients = await asyncio.to_thread(idle_all)
    counts = served_by(server.addresses["imap"][1], server.supervisor.pids)
    assert set(counts) == {1, 2}, counts  # sessions on both workers

    seen: list[float] = []

    def wait_exists(client: imaplib.IMAP4) -> None:
        client.sock.settimeout(30)
        while True:
            line = client.readline()
            if line.endswith(b"EXISTS\r\n"):
                seen.append(time.monotonic())
                return

    waiters = [threading.Thread(target=wait_exists, args=(c,)) for c in clients]
    for t in waiters:
        t.start()

    def deliver() -> float:
        with smtplib.SMTP(*server.addresses["smtp"], timeout=60) as smtp:
            smtp.sendmail("sender@example.org", [USER], message(1))
            return time.monotonic()

    sent = await asyncio.to_thread(deliver)
    for t in waiters:
        await asyncio.to_thread(t.join)
    assert len(seen) == 20
    # IDLE has no polling: only the bus can have woken the sessions on the other worker.
    print(f"slowest IDLE wake-up after the 250: {max(seen) - sent:.3f} s")
    for client in clients:
        client.sock.close()


async def test_lockout_reaches_every_listener_in_every_worker(
        start_workers: StartWorkers) -> None:
    server = await start_workers(security={"trusted_networks": [], "lockout_attempts": 10})
    assert server.supervisor is not None

    def fail(n: int) -> None:
        for _ in range(n):
            client = imap_connect(server, tls=True)
            with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
                client.login(USER, "wrong password")
            client.logout()

    await asyncio.to_thread(fail, 10)

    def imap_locked() -> tuple[list[bool], Counter[int]]:
        clients = [imap_connect(server, tls=True) for _ in range(12)]
        assert server.supervisor is not None
        counts = served_by(server.addresses["imap"][1], server.supervisor.pids)
        results = []
        for client in clients:
            try:
                client.login(USER, PASSWORD)
                results.append(False)
            except imaplib.IMAP4.error as exc:
                results.append("locked" in str(exc).lower() or "UNAVAILABLE" in str(exc))
            client.sock.close()
        return results, counts

    results, counts = await asyncio.to_thread(imap_locked)
    assert set(counts) == {1, 2}, counts
    assert all(results)  # the right password is refused everywhere

    def submission_locked() -> bool:
        with smtplib.SMTP(*server.addresses["submission"], timeout=60) as smtp:
            smtp.starttls(context=insecure())
            try:
                smtp.login(USER, PASSWORD)
            except smtplib.SMTPAuthenticationError as exc:
                return exc.smtp_code == 454 or "lock" in str(exc).lower()
            return False

    for _ in range(4):  # new connections: both workers
        assert await asyncio.to_thread(submission_locked)

    base = "http://{}:{}".format(*server.addresses["http"])
    statuses = []
    for _ in range(6):
        async with aiohttp.ClientSession() as session, session.post(
                base + "/auth/login", json={"username": USER, "password": PASSWORD}) as r:
            statuses.append(r.status)
    assert statuses == [429] * 6


async def test_token_from_one_worker_is_accepted_by_all(start_workers: StartWorkers) -> None:
    server = await start_workers()
    base = "http://{}:{}".format(*server.addresses["http"])
    async with aiohttp.ClientSession() as session, session.post(base + "/auth/login",
                            json={"username": USER, "password": PASSWORD}) as r:
        assert r.status == 200
        token = (await r.json())["token"]

    async def one() -> tuple[int, int]:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get(base + "/healthz") as r:  # which worker holds this conn
                worker = (await r.json())["worker"]
            async with session.get(base + "/folders",
                                   headers={"Authorization": f"Bearer {token}"}) as r:
                return worker, r.status

    results = await asyncio.gather(*(one() for _ in range(20)))
    assert {w for w, _ in results} == {1, 2}
    assert {status for _, status in results} == {200}


EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//rmail tests//EN\r
BEGIN:VEVENT\r
UID:bus-1@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260102T100000Z\r
DTEND:20260102T110000Z\r
SUMMARY:bus\r
END:VEVENT\r
END:VCALENDAR\r
"""
CARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bus-c1\r\nFN:Carol\r\nN:;Carol;;;\r\nEND:VCARD\r\n"


async def test_calendar_contact_and_drive_writes_reach_every_process(
        start_workers: StartWorkers) -> None:
    server = await start_workers()
    base = "http://{}:{}".format(*server.addresses["http"])
    auth = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    # The test process is the supervisor: a change made in a worker reaches it over the bus
    # exactly as it reaches the other worker.
    with server.core.events.subscribe(DOMAIN, "alice") as sub:
        async with aiohttp.ClientSession(headers=auth) as session:
            for path, body, kind in [
                    ("/caldav/alice/calendars/default/bus.ics", EVENT, "text/calendar"),
                    ("/caldav/alice/contacts/default/c1.vcf", CARD, "text/vcard"),
                    ("/drive/bus.txt", "drive bytes", "text/plain")]:
                async with session.put(base + path, data=body.encode(),
                                       headers={"Content-Type": kind}) as r:
                    assert r.status in (201, 204), (path, r.status, await r.text())
        seen: dict[str, str | None] = {}
        while not {"calendar", "contacts", "drive"} <= seen.keys():
            change = await sub.get(timeout=10)
            assert change is not None, f"only {sorted(seen)} arrived"
            seen[change.kind] = change.folder_id
    assert seen["calendar"] == "calendar/default"
    assert seen["contacts"] == "contacts/default"
    assert seen["drive"] == "drive"


async def test_changes_reach_only_the_workers_that_follow_their_user(
        start_workers: StartWorkers) -> None:
    """The supervisor relays a change only to the workers that announced a subscriber of its
    user, and replays the user's recent changes to a worker whose ``sub`` crossed them. The
    test plays a third worker on its own socketpair to the supervisor's hub."""
    server = await start_workers()
    hub = server._hub
    assert hub is not None
    ours, theirs = socket.socketpair()
    await hub.attach(99, ours)
    theirs.settimeout(10)
    received = b""

    def lines_until(predicate: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        nonlocal received
        while True:
            messages = [orjson.loads(line) for line in received.split(b"\n") if line]
            if predicate(messages):
                return messages
            try:
                chunk = theirs.recv(65536)
            except TimeoutError:
                return messages
            assert chunk, "the hub closed the link"
            received += chunk

    def changes(messages: list[dict[str, Any]]) -> list[list[Any]]:
        return [m["c"] for m in messages if m.get("t") == "change"]

    def deliver(n: int) -> None:
        with smtplib.SMTP(*server.addresses["smtp"], timeout=60) as smtp:
            smtp.sendmail("sender@example.org", [USER], message(n))

    try:
        with server.core.events.subscribe(DOMAIN, "alice") as here:
            # nobody follows alice in "our" worker: a delivery reaches the supervisor only
            before = time.monotonic()
            await asyncio.to_thread(deliver, 1)
            assert await here.get(timeout=30) is not None
            theirs.settimeout(0.5)
            assert changes(await asyncio.to_thread(lines_until, lambda m: False)) == []
            # a ``sub`` made before that delivery reached the supervisor: replayed
            theirs.sendall(orjson.dumps({"t": "sub", "k": [DOMAIN, "alice"], "s": before})
                           + b"\n")
            theirs.settimeout(10)
            got = await asyncio.to_thread(lines_until, lambda m: len(changes(m)) >= 1)
            assert [c[:3] for c in changes(got)] == [[DOMAIN, "alice", "append"]]
            # following alice now: the next delivery is relayed at once
            await asyncio.to_thread(deliver, 2)
            got = await asyncio.to_thread(lines_until, lambda m: len(changes(m)) >= 2)
            assert [c[2] for c in changes(got)] == ["append", "append"]
            assert changes(got)[1][5] != changes(got)[0][5]  # the second message's UID
            # after ``unsub`` nothing more, and a ``sub`` replays nothing from before it
            theirs.sendall(orjson.dumps({"t": "unsub", "k": [DOMAIN, "alice"]}) + b"\n")
            await asyncio.sleep(0.2)
            await asyncio.to_thread(deliver, 3)
            while (change := await here.get(timeout=30)) is not None and \
                    change.uids == tuple(changes(got)[1][5]):
                pass  # (the second delivery's change, if still queued here)
            assert change is not None  # the third: the hub has relayed it (or not) by now
            theirs.sendall(orjson.dumps({"t": "sub", "k": [DOMAIN, "alice"],
                                         "s": time.monotonic()}) + b"\n")
            theirs.settimeout(0.5)
            assert len(changes(await asyncio.to_thread(lines_until, lambda m: False))) == 2
    finally:
        await hub.detach(99)
        theirs.close()


async def test_the_hubs_replay_memory_is_bounded(start_workers: StartWorkers,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The lines kept for a late ``sub`` are capped per user and in users (oldest go)."""
    from rmail import bus

    monkeypatch.setattr(bus, "REPLAY_USERS", 2)
    server = await start_workers()
    hub = server._hub
    assert hub is not None
    for user in ("u1", "u2", "u3"):
        for n in range(bus.REPLAY_LINES + 5):
            hub._relay_change((DOMAIN, user), bus.encode(
                {"t": "change", "c": [DOMAIN, user, "append", "f", n + 1, [n + 1]]}))
    ours, theirs = socket.socketpair()
    await hub.attach(98, ours)
    try:
        for user in ("u1", "u2", "u3"):
            theirs.sendall(orjson.dumps({"t": "sub", "k": [DOMAIN, user], "s": 0.0}) + b"\n")
        theirs.settimeout(0.5)
        received = b""
        with contextlib.suppress(TimeoutError):
            while chunk := await asyncio.to_thread(theirs.recv, 1 << 20):
                received += chunk
        replayed = Counter(m["c"][1] for m in map(orjson.loads, received.splitlines())
                           if m.get("t") == "change")
        assert replayed == {"u2": bus.REPLAY_LINES, "u3": bus.REPLAY_LINES}
    finally:
        await hub.detach(98)
        theirs.close()


async def test_changes_nobody_follows_still_reach_the_supervisors_indexer(
        start_workers: StartWorkers) -> None:
    """With no subscriber anywhere a worker sends its change lines with its next periodic
    flush instead of at once; the supervisor's search indexer still hears every delivery."""
    server = await start_workers()
    assert server.core.events.followed() == []
    indexer = server.core.indexer
    before = indexer.indexed

    def deliver() -> None:
        for n in range(6):  # new connections: the kernel spreads them over both workers
            with smtplib.SMTP(*server.addresses["smtp"], timeout=60) as smtp:
                smtp.sendmail("sender@example.org", [USER], message(n, "unwatched"))

    await asyncio.to_thread(deliver)
    assert await wait_for(lambda: indexer.indexed - before >= 6, timeout=30), \
        indexer.indexed - before


# --- per-IP connection cap ------------------------------------------------------------------


def _try_smtp(address: tuple[str, int]) -> tuple[socket.socket | None, bytes]:
    """(open socket, greeting) for an admitted connection, (None, refusal) for a refused one."""
    sock = socket.create_connection(address, timeout=60)
    greeting = read_line(sock)
    if greeting.startswith(b"220 "):
        return sock, greeting
    sock.close()
    return None, greeting


async def test_per_ip_cap_spans_workers_and_a_killed_workers_slots_are_released(
        start_workers: StartWorkers) -> None:
    cap = 3
    server = await start_workers(smtp={"max_connections_per_ip": cap},
                                 security={"trusted_networks": []})
    supervisor = server.supervisor
    assert supervisor is not None
    address = server.addresses["smtp"]
    port = address[1]
    held: list[socket.socket] = []
    try:
        # Fill the cap with connections on both workers: each worker alone then holds fewer
        # than the cap, so a refusal from either proves the count spans the processes.
        while True:
            sock, greeting = await asyncio.to_thread(_try_smtp, address)
            assert sock is not None, greeting
            held.append(sock)
            per_worker = served_by(port, supervisor.pids)
            if len(held) < cap:
                if len(held) == cap - 1 and len(per_worker) < 2:
                    held.pop().close()  # keep one slot for the other worker
                    await wait_for(lambda: sum(served_by(port, supervisor.pids).values())
                                   == len(held))
                continue
            if len(per_worker) == 2:
                break
            held.pop().close()
            await wait_for(lambda: sum(served_by(port, supervisor.pids).values()) == len(held))
        per_worker = served_by(port, supervisor.pids)
        assert sorted(per_worker.values()) == [1, 2]
        refusals = [(await asyncio.to_thread(_try_smtp, address))[1] for _ in range(10)]
        assert all(r.startswith(b"421 4.7.0 ") for r in refusals), refusals

        # kill -9 the worker holding two: its clients' connections die with it, and their
        # slots are free again once the supervisor has replaced it.
        victim_index = max(per_worker, key=lambda i: per_worker[i])
        os.kill(supervisor.pids[victim_index], signal.SIGKILL)
        assert await wait_for(lambda: supervisor.restarts == 1)
        admitted = []
        for _ in range(2 * cap):
            sock, greeting = await asyncio.to_thread(_try_smtp, address)
            if sock is None:
                assert greeting.startswith(b"421 4.7.0 "), greeting
                continue
            admitted.append(sock)
            held.append(sock)
        # the survivor's connection still counts: exactly the two freed slots are taken again
        assert len(admitted) == cap - 1
    finally:
        for sock in held:
            sock.close()


# --- quota ---------------------------------------------------------------------------------


async def test_quota_holds_when_deliveries_race_through_both_workers(
        start_workers: StartWorkers) -> None:
    server = await start_workers()
    supervisor = server.supervisor
    assert supervisor is not None
    server.core.accounts.create(DOMAIN, "bob", password_hash(), quota_mb=1)
    quota = 1024 * 1024
    size = 20_000
    # Fill bob's mailbox to leave room for about ten of the messages below.
    inbox = server.core.mail.mailbox(DOMAIN, "bob").folder("INBOX")
    filler = b"Subject: filler\r\n\r\n" + b"x" * (quota - 10 * size - 100)
    await asyncio.to_thread(inbox.append, filler, quota_bytes=quota)

    body = b"Subject: race\r\n\r\n" + (b"y" * 76 + b"\r\n") * (size // 78)
    sessions = 16
    barrier = threading.Barrier(sessions + 1, timeout=60)
    results: list[bool] = []
    lock = threading.Lock()

    def client() -> None:
        with smtplib.SMTP(*server.addresses["smtp"], timeout=60) as smtp:
            smtp.ehlo()
            barrier.wait()  # every session open (and spread) before any delivers
            barrier.wait()
            for _ in range(3):
                try:
                    smtp.sendmail("sender@example.org", [f"bob@{DOMAIN}"], body)
                    ok = True
                except smtplib.SMTPResponseException as exc:
                    assert exc.smtp_code in (452, 552), exc
                    ok = False
                except smtplib.SMTPRecipientsRefused as exc:
                    assert all(code in (452, 552) for code, _ in exc.recipients.values()), exc
                    ok = False
                with lock:
                    results.append(ok)

    threads = [threading.Thread(target=client) for _ in range(sessions)]
    for t in threads:
        t.start()
    await asyncio.to_thread(barrier.wait)
    spread = served_by(server.addresses["smtp"][1], supervisor.pids)
    assert len(spread) == WORKERS, spread  # the race runs through both workers
    await asyncio.to_thread(barrier.wait)
    for t in threads:
        await asyncio.to_thread(t.join)
    assert len(results) == 3 * sessions
    assert 0 < results.count(True) < len(results)  # some fitted, the rest were refused
    used = MailStore(server.config.mail_root).mailbox(DOMAIN, "bob").usage_bytes()
    assert used <= quota, f"{used - quota} bytes over the quota"


# --- crashes and stopping -----------------------------------------------------------------


async def test_kill_9_of_a_worker_during_delivery_loses_nothing(
        start_workers: StartWorkers) -> None:
    server = await start_workers()
    supervisor = server.supervisor
    assert supervisor is not None
    acked: list[str] = []
    stop = threading.Event()
    counter = iter(range(1, 1_000_000))
    lock = threading.Lock()

    def client() -> None:
        while not stop.is_set():
            try:
                with smtplib.SMTP(*server.addresses["smtp"], timeout=60) as smtp:
                    while not stop.is_set():
                        with lock:
                            n = next(counter)
                        smtp.sendmail("sender@example.org", [USER], message(n))
                        with lock:
                            acked.append(f"<m{n}@example.org>")
            except (smtplib.SMTPException, OSError):
                continue  # the worker died under us: that message was never acknowledged

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        assert await wait_for(lambda: len(acked) >= 30)
        victim_index, victim = sorted(supervisor.pids.items())[0]
        os.kill(victim, signal.SIGKILL)
        assert await wait_for(lambda: supervisor.restarts == 1)  # the replacement serves
        assert supervisor.pids[victim_index] != victim
        before = len(acked)
        assert await wait_for(lambda: len(acked) >= before + 30)
    finally:
        stop.set()
        for t in threads:
            await asyncio.to_thread(t.join)
    assert supervisor.restarts == 1
    missing = set(acked) - await asyncio.to_thread(inbox_ids, server)
    assert not missing


def test_supervisor_killed_leaves_no_worker_behind(tmp_path: Path) -> None:
    config = worker_config(tmp_path / "store")
    path = tmp_path / "config.json"
    import json

    path.write_text(json.dumps(config.to_dict()))
    repo = Path(__file__).resolve().parent.parent
    with subprocess.Popen([sys.executable, "-m", "rmail", "--config", str(path), "serve"],
                          cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "healthz" in line:
                    break
            workers = [int(p) for task in Path(f"/proc/{proc.pid}/task").iterdir()
                       for p in (task / "children").read_text().split()]
            assert len(workers) == WORKERS
            proc.kill()
            proc.wait()
            deadline = time.monotonic() + 60
            alive = workers
            while alive and time.monotonic() < deadline:
                alive = [pid for pid in workers if _running(pid)]
                time.sleep(0.1)
            assert not alive
        finally:
            if proc.poll() is None:
                proc.kill()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --- singletons ---------------------------------------------------------------------------


async def test_queue_runner_and_reminders_run_once(tmp_path: Path,
                                                   start_workers: StartWorkers) -> None:
    from aiosmtpd.smtp import SMTP

    received: list[bytes] = []

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.original_content)
            return "250 2.0.0 OK"

    loop = asyncio.get_running_loop()
    sink = await loop.create_server(lambda: SMTP(Sink(), hostname="sink", loop=loop),
                                    "127.0.0.1", 0)
    sink_port = sink.sockets[0].getsockname()[1]

    # A calendar event whose alarm fires now, stored before the server starts.
    from rmail.services import build_services

    config = worker_config(tmp_path / "mailstore")
    core = build_services(config)
    core.accounts.add_domain(DOMAIN, exist_ok=True)
    core.accounts.create(DOMAIN, "alice", password_hash(), quota_mb=1024)
    home = core.calendars.home(DOMAIN, "alice")
    home.ensure_defaults()
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).strftime("%Y%m%dT%H%M%SZ")
    event = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
             f"UID:once@example.org\r\nDTSTAMP:{start}\r\nDTSTART:{start}\r\n"
             "SUMMARY:Standup\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Standup\r\n"
             "TRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    from rmail.ical.meta import object_meta
    from rmail.ical.parse import parse_object

    data = event.encode()
    home.get(home.names()[0]).put("once.ics", data, object_meta(parse_object(data)))
    core.close()

    server = await start_workers(relay={"routes": {"remote.test": f"127.0.0.1:{sink_port}"}},
                                 queue={"retry_min": 1, "retry_max": 1})
    try:
        def submit() -> None:
            with smtplib.SMTP(*server.addresses["submission"], timeout=60) as smtp:
                smtp.starttls(context=insecure())
                smtp.login(USER, PASSWORD)
                smtp.sendmail(USER, ["bob@remote.test"], message(7, "outbound", sender=USER))

        await asyncio.to_thread(submit)
        assert await wait_for(lambda: len(received) >= 1)

        def reminders() -> int:
            folder = MailStore(server.config.mail_root).mailbox(DOMAIN, "alice").folder("INBOX")
            return sum(b"Subject: Reminder: Standup" in folder.read_message(uid)
                       for uid in folder.uids())

        assert await wait_for(lambda: reminders() >= 1)
        await asyncio.sleep(3)  # room for a second runner, were there one
        assert len(received) == 1
        assert reminders() == 1
    finally:
        sink.close()
        await sink.wait_closed()


# --- \Recent ------------------------------------------------------------------------------


async def test_recent_is_claimed_once_across_workers_and_restarts(
        start_workers: StartWorkers) -> None:
    server = await start_workers()
    assert server.supervisor is not None

    def lmtp_deliver(n: int) -> None:
        client = smtplib.LMTP(timeout=60)
        client.connect(*server.addresses["lmtp"])
        client.sendmail("sender@example.org", [USER], message(n))
        client.quit()

    await asyncio.to_thread(lmtp_deliver, 1)

    def select_all(count: int) -> tuple[list[int], Counter[int]]:
        clients = [imap_connect(server) for _ in range(count)]
        assert server.supervisor is not None
        spread = served_by(server.addresses["imap"][1], server.supervisor.pids)
        for client in clients:
            client.login(USER, PASSWORD)
        recents = []
        for client in clients:
            client.select("INBOX")
            recents.append(int(client.response("RECENT")[1][0] or 0))
            client.logout()
        return recents, spread

    recents, spread = await asyncio.to_thread(select_all, 12)
    assert set(spread) == {1, 2}
    assert sorted(recents) == [0] * 11 + [1]

    # Delivered while no session is looking, then a restart: still recent, once.
    await asyncio.to_thread(lmtp_deliver, 2)
    config = server.config
    await server.stop()
    again = Server(config)
    await again.start()
    try:
        server = again
        recents, _ = await asyncio.to_thread(select_all, 4)
        assert sorted(recents) == [0, 0, 0, 1]
    finally:
        await again.stop()


# --- memory -------------------------------------------------------------------------------

# A path fragment of a package's native library -> the work that needs it. Issue 14 wants an
# idle worker under 80 MB; these are imported where used (cryptography alone is about 7 MB).
NOT_AT_IDLE = {
    "/cryptography/hazmat/bindings/": "certificates, tokens, TOTP secrets, DKIM keys",
    "/nh3/": "HTML sanitising",
    "/_argon2_cffi_bindings/": "password checks",
}


def mapped_files(pid: int) -> set[str]:
    """The files mapped into process ``pid`` (a pure-Python module leaves no trace there;
    these native libraries stand for their packages' import chains)."""
    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {parts[5] for line in lines if len(parts := line.split(maxsplit=5)) == 6}


async def test_a_worker_that_took_mail_loads_no_library_it_did_not_need(
        start_workers: StartWorkers) -> None:
    server = await start_workers()
    supervisor = server.supervisor
    assert supervisor is not None

    def deliver() -> None:
        for n in range(4):  # new connections: likely both workers take one
            with smtplib.SMTP(*server.addresses["smtp"], timeout=60) as smtp:
                smtp.sendmail("sender@example.org", [USER], message(n))

    await asyncio.to_thread(deliver)
    for index, pid in supervisor.pids.items():
        files = mapped_files(pid)
        assert any("/aiohttp/" in f for f in files)  # the check does see a worker's libraries
        loaded = {fragment: why for fragment, why in NOT_AT_IDLE.items()
                  if any(fragment in f for f in files)}
        assert not loaded, f"worker {index} loaded before any request needed it: {loaded}"
