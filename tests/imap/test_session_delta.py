"""`compute_delta` from event-bus records (cost follows the change) gives exactly what the
full scan of the index gives, and falls back to the scan when records are missing."""

from __future__ import annotations

import random
from array import array
from pathlib import Path

import pytest

from rmail.imap.session import _delta_from_changes, compute_delta
from rmail.store.accounts import Accounts
from rmail.store.events import Change
from rmail.store.mailbox import REAPER, MailStore
from tests.imap.conftest import message


class Recorder:
    def __init__(self) -> None:
        self.changes: list[Change] = []

    def publish(self, change: Change) -> None:
        self.changes.append(change)


@pytest.mark.parametrize("seed", range(8))
def test_event_delta_equals_scan(tmp_path: Path, seed: int) -> None:
    Accounts(tmp_path).create("example.com", "alice", "x")
    rec = Recorder()
    folder = MailStore(tmp_path, rec).mailbox("example.com", "alice").folder(  # type: ignore[arg-type]
        "INBOX")
    rnd = random.Random(seed)
    for i in range(30):
        folder.append(message(i))
    view = array("q", folder.uids())
    since = folder.status().highestmodseq
    rec.changes.clear()
    for step in range(60):
        uids = folder.uids()
        op = rnd.random()
        if op < 0.4 and uids:
            folder.store_flags(rnd.sample(uids, min(3, len(uids))), rnd.choice(["add", "remove"]),
                               [rnd.choice(["\\Seen", "$a", "\\Deleted"])])
        elif op < 0.6:
            folder.append_many([(message(100 + step), (), None)] * rnd.randint(1, 3))
        elif op < 0.8 and uids:
            folder.expunge(rnd.sample(uids, 1))
        else:
            folder.expunge()
        fast = folder.read_index(lambda idx: compute_delta(idx, view, since, rec.changes))
        slow = folder.read_index(lambda idx: compute_delta(idx, view, since, None))
        assert fast == slow
        used = folder.read_index(
            lambda idx: _delta_from_changes(idx, view[-1], since, rec.changes))
        assert used is not None or fast is None  # the records were enough: no scan
        # a record still in flight: the fast path must not guess
        partial = folder.read_index(
            lambda idx: compute_delta(idx, view, since, rec.changes[1:]))
        assert partial == slow
    REAPER.flush()
