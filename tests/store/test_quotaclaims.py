"""The quota table shared by the processes of a server (`rmail.store.quotaclaims`): claims
from every row count against one quota, a dead process's row is released, commits drift."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from rmail.store.errors import QuotaExceeded
from rmail.store.quotaclaims import PROBE, QuotaClaims, Stale, user_key

KEY = user_key("example.com", "alice")


@pytest.fixture
def tables() -> Iterator[tuple[QuotaClaims, QuotaClaims, QuotaClaims]]:
    """The supervisor's handle (row 0) and two workers' (rows 1, 2) over one memfd, as
    inherited descriptors would give them."""
    owner = QuotaClaims.create(3, slots=64)
    assert owner.fd is not None
    one, two = QuotaClaims.attach(os.dup(owner.fd), 1), QuotaClaims.attach(os.dup(owner.fd), 2)
    yield owner, one, two
    for table in (one, two, owner):
        table.close()


def test_claims_from_every_process_share_one_quota(tables: tuple[QuotaClaims, ...]) -> None:
    _, one, two = tables
    mark = one.mark(KEY)
    assert mark is not None
    slot = one.claim(mark, 900, 60, 1000)
    with pytest.raises(QuotaExceeded):
        two.claim(mark, 900, 60, 1000)  # worker 2 sees worker 1's claim
    two.claim(mark, 900, 40, 1000)
    one.release(slot, 60)
    two.claim(mark, 900, 60, 1000)


def test_commits_drift_for_every_process(tables: tuple[QuotaClaims, ...]) -> None:
    _, one, two = tables
    mark = one.mark(KEY)
    assert mark is not None
    two.committed(KEY, 500)
    assert one.drift_since(mark) == 500
    with pytest.raises(QuotaExceeded):
        one.claim(mark, 400, 200, 1000)  # 400 summed + 500 committed elsewhere + 200
    two.committed(KEY, -500)  # an expunge frees it again
    one.claim(mark, 400, 200, 1000)


def test_a_dead_workers_claims_are_released(tables: tuple[QuotaClaims, ...]) -> None:
    owner, one, two = tables
    mark = one.mark(KEY)
    assert mark is not None
    one.claim(mark, 0, 1000, 1000)
    with pytest.raises(QuotaExceeded):
        two.claim(mark, 0, 1, 1000)
    owner.clear_row(1)  # what the supervisor does when worker 1 dies
    two.claim(mark, 0, 1, 1000)


def test_a_reassigned_slot_is_stale() -> None:
    table = QuotaClaims.local(slots=PROBE)  # one probe window: every key competes
    marks = [table.mark(user_key("example.com", f"u{i}")) for i in range(PROBE)]
    assert len({m.slot for m in marks if m is not None}) == PROBE  # unused slots first
    first = marks[0]
    assert first is not None
    late = table.mark(user_key("example.com", "late"))  # no claims held: a slot is reused
    assert late is not None
    stale = next(m for m in marks if m is not None and m.slot == late.slot)
    with pytest.raises(Stale):
        table.drift_since(stale)
    with pytest.raises(Stale):
        table.claim(stale, 0, 1, 10)
    table.close()


def test_a_full_window_of_claims_gives_no_slot() -> None:
    table = QuotaClaims.local(slots=PROBE)
    for i in range(PROBE):
        key = user_key("example.com", f"u{i}")
        mark = table.mark(key)
        assert mark is not None
        table.claim(mark, 0, 1, 10)
    assert table.mark(user_key("example.com", "late")) is None
    table.close()
