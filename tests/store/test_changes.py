"""`rmail.store.changes`: events since a position, read from the indexes alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmail.store import journal
from rmail.store.changes import Position, changes_since, current_position
from rmail.store.events import Change
from rmail.store.mailbox import Folder, MailStore, UserMailbox
from tests.store.conftest import DOMAIN, USER, message


def run(mailbox: UserMailbox, pos: Position, hint: Change | None = None
        ) -> tuple[list[tuple[str, int | None]], Position]:
    out = []
    for event in changes_since(mailbox, pos, hint):
        pos = event.position
        if event.data is not None:
            out.append((event.data["command"], event.data.get("uid")))
    return out, pos


def test_position_round_trip_and_garbage() -> None:
    pos = Position({})
    assert Position.decode(pos.encode()) == pos
    for bad in ("", "x", "e30", "W10", "WzEsIDVd", "A" * 20000):
        assert Position.decode(bad) is None


def test_every_prefix_resumes_without_gaps(mailbox: UserMailbox, inbox: Folder,
                                           mail_root: Path) -> None:
    start = current_position(mailbox)
    inbox.append(message(1))
    inbox.append(message(2))
    inbox.store_flags([1], "add", ["\\Seen"])
    inbox.append(message(3))
    inbox.expunge([2])
    mailbox.create_folder("Work")
    events = list(changes_since(mailbox, start))
    told = [(e.data["command"], e.data.get("uid")) for e in events if e.data]
    assert ("EXISTS", 1) in told and ("EXISTS", 3) in told
    assert ("EXPUNGE", 2) not in told  # never told, so never taken back
    assert told[-1][0] == "CREATE"
    # stopping after any event and resuming (from a fresh store, as after a restart) gives
    # the rest: nothing missing, at most the same change again
    for cut in range(len(events)):
        later, _ = run(MailStore(mail_root).mailbox(DOMAIN, USER), events[cut].position)
        before = [(e.data["command"], e.data.get("uid")) for e in events[:cut + 1] if e.data]
        assert set(told) <= set(before) | set(later)
    assert run(mailbox, events[-1].position)[0] == []


def test_fast_path_matches_the_scan(mailbox: UserMailbox, inbox: Folder) -> None:
    pos = current_position(mailbox)
    inbox.append(message(1))
    hint = Change(DOMAIN, USER, "append", inbox.id, inbox.status().highestmodseq, (1,))
    assert run(mailbox, pos, hint) == run(mailbox, pos)


def test_old_positions_get_resync(monkeypatch: pytest.MonkeyPatch, mailbox: UserMailbox,
                                  inbox: Folder) -> None:
    inbox.append_many([(message(i), (), None) for i in range(5)])
    pos = current_position(mailbox)
    monkeypatch.setattr(journal, "MAX_TOMBSTONES", 1)
    inbox.expunge([1])
    inbox.expunge([2])  # the tombstone of UID 1 is dropped
    told, after = run(mailbox, pos)
    assert told == [("RESYNC", None)]
    assert run(mailbox, after)[0] == []
