"""The per-IP connection table shared by the workers (`rmail.conntable`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from rmail.conntable import PROBE, ConnectionTable


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


def test_a_full_window_admits_uncounted() -> None:
    table = ConnectionTable.create(1, slots=PROBE)
    held = [table.admit("imap", f"203.0.113.{i}", 1) for i in range(PROBE)]
    assert all(h is not None and h.index is not None for h in held)
    overflow = table.admit("imap", "203.0.113.200", 1)
    assert overflow is not None and overflow.index is None  # fails open, never refuses
    table.release(overflow)
    table.close()
