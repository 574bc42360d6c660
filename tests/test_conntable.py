"""The per-IP connection table shared by the workers (`rmail.conntable`)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from rmail.config import LISTENER_NAMES, Config
from rmail.conntable import MAX_SLOTS, MIN_SLOTS, PROBE, ConnectionTable, default_slots
from rmail.server import Server
from tests.sockets import read_line

TIMEOUT = 10.0


@pytest.fixture
def rows() -> Iterator[tuple[ConnectionTable, ConnectionTable, ConnectionTable]]:
    """The supervisor's handle and two workers' (rows 0 and 1) over one memfd."""
    owner = ConnectionTable.create(2, slots=64)
    one = ConnectionTable.attach(os.dup(owner.fd), 0)
    two = ConnectionTable.attach(os.dup(owner.fd), 1)
    yield owner, one, two
    for table in (one, two, owner):
        table.close()


def test_the_cap_counts_every_worker(rows: tuple[ConnectionTable, ...]) -> None:
    _, one, two = rows
    a = one.admit("imap", "192.0.2.1", 3)
    b = two.admit("imap", "192.0.2.1", 3)
    c = two.admit("imap", "::ffff:192.0.2.1", 3)  # the same client seen by a dual-stack socket
    assert a and b and c
    assert one.admit("imap", "192.0.2.1", 3) is None
    assert one.admit("pop3", "192.0.2.1", 3) is not None  # each listener has its own cap
    assert one.admit("imap", "2001:db8::1", 3) is not None
    one.release(a)
    assert one.count("imap", "192.0.2.1") == 2
    assert two.admit("imap", "192.0.2.1", 3) is not None


def test_a_dead_workers_row_is_released(rows: tuple[ConnectionTable, ...]) -> None:
    owner, one, two = rows
    for _ in range(2):
        assert one.admit("smtp", "198.51.100.7", 3)
    assert two.admit("smtp", "198.51.100.7", 3)
    assert two.admit("smtp", "198.51.100.7", 3) is None
    owner.clear_row(0)  # worker 1 was killed: its clients' connections died with it
    assert owner.count("smtp", "198.51.100.7") == 1
    assert two.admit("smtp", "198.51.100.7", 3) is not None


def test_a_full_table_refuses_new_addresses_and_reuses_free_rows() -> None:
    table = ConnectionTable.create(1, slots=PROBE)
    held = [table.admit("imap", f"203.0.113.{i}", 2) for i in range(PROBE)]
    assert all(h is not None and h.index is not None for h in held)
    # a new address finds no room: refused (never admitted uncounted, which would let a flood
    # of distinct addresses past every per-address cap) ...
    assert table.admit("imap", "203.0.113.200", 2) is None
    assert table.count("imap", "203.0.113.200") == 0
    # ... while an address the table holds is still counted against its cap
    again = table.admit("imap", "203.0.113.5", 2)
    assert again is not None and table.admit("imap", "203.0.113.5", 2) is None
    # a departed address's slot is free for the next one
    first = held[0]
    assert first is not None
    table.release(first)
    newcomer = table.admit("imap", "203.0.113.200", 2)
    assert newcomer is not None and newcomer.index == first.index
    assert table.count("imap", "203.0.113.0") == 0
    table.close()


def test_default_size_covers_every_descriptor() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    slots = default_slots(2)
    assert MIN_SLOTS <= slots <= MAX_SLOTS and slots & (slots - 1) == 0
    assert slots >= min(MAX_SLOTS, 4 * soft)
    table = ConnectionTable.create(2)
    assert table.slots == slots and table.window == PROBE
    table.close()


def test_window_placement_is_keyed_per_table() -> None:
    """Two tables place the same addresses differently (a keyed hash drawn per table), so
    a client cannot choose addresses that all fall into one window."""
    a, b = ConnectionTable.create(1, slots=1 << 16), ConnectionTable.create(1, slots=1 << 16)
    try:
        places_a = [a.admit("smtp", f"2001:db8::{i:x}", 1) for i in range(32)]
        places_b = [b.admit("smtp", f"2001:db8::{i:x}", 1) for i in range(32)]
        assert [p and p.index for p in places_a] != [p and p.index for p in places_b]
    finally:
        a.close()
        b.close()


# -- with real sockets: every capped listener refuses with its temporary error ------------------
def _listeners(enabled: tuple[str, ...]) -> dict[str, dict[str, object]]:
    return {name: {"enabled": name in enabled, "port": 0} for name in LISTENER_NAMES}


def _connect(address: tuple[str, int], source: str) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(TIMEOUT)
    sock.bind((source, 0))
    sock.connect(address)
    return sock


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
async def full_table_server(tmp_path: Path) -> AsyncIterator[Server]:
    """IMAP, POP3 and SMTP behind a connection table of 4 slots (127.0.0.0/8 untrusted, so
    every loopback source address is counted)."""
    config = Config.from_dict({
        "hostname": "mx.example.com", "mail_root": str(tmp_path / "mailstore"),
        "domains": ["example.com"], "listeners": _listeners(("imap", "pop3", "smtp")),
        "security": {"trusted_networks": []}}, source="test_conntable")
    table = ConnectionTable.create(config.worker_count, slots=4)
    server = Server(config, connections=table)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        table.close()


GREETINGS = {"imap": (b"* OK", b"* BYE too many connections"),
             "pop3": (b"+OK", b"-ERR [SYS/TEMP]"),
             "smtp": (b"220", b"421 4.7.0")}


@pytest.mark.parametrize("listener", sorted(GREETINGS))
async def test_a_full_table_refuses_with_the_protocols_temporary_error(
        full_table_server: Server, listener: str) -> None:
    address = full_table_server.addresses[listener]
    welcome, refusal = GREETINGS[listener]

    def scenario() -> None:
        held = [_connect(address, f"127.0.0.{i}") for i in range(2, 6)]  # fills the 4 slots
        try:
            for sock in held:
                assert read_line(sock).startswith(welcome)
            with _connect(address, "127.0.0.9") as late:  # a fifth address: no room
                assert read_line(late).startswith(refusal)
                assert _closed(late)
            with _connect(address, "127.0.0.3") as same:  # a counted address still gets in
                assert read_line(same).startswith(welcome)
            held.pop(0).close()  # 127.0.0.2 leaves: its slot is reused once the server sees it
            deadline = time.monotonic() + TIMEOUT
            while True:
                with _connect(address, "127.0.0.9") as late:
                    if read_line(late).startswith(welcome):
                        break
                assert time.monotonic() < deadline, "the departed address's slot never freed"
                time.sleep(0.05)
        finally:
            for sock in held:
                sock.close()

    await asyncio.to_thread(scenario)
