"""The spool's files: durable create, atomic updates, crash leftovers, versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmail.queue.spool import (
    DELIVERED,
    Leg,
    QueuedMessage,
    RecipientState,
    Spool,
    check_queue_id,
    new_queue_id,
)
from rmail.store.errors import CorruptStore
from rmail.store.layout import Layout


def make(spool: Spool) -> QueuedMessage:
    message = QueuedMessage(new_queue_id(), "a@example.com", 1.0, 2.0, 5,
                            [Leg("x.test", [RecipientState("b@x.test")])])
    spool.create(b"hello", message)
    return message


def test_round_trip_update_remove(tmp_path: Path) -> None:
    spool = Spool(Layout(tmp_path))
    message = make(spool)
    assert spool.ids() == [message.id]
    assert spool.load(message.id) == message
    assert spool.read_message(message.id) == b"hello"
    key = spool.stat_key(message.id)
    message.legs[0].recipients[0].status = DELIVERED
    assert spool.save(message)
    assert spool.stat_key(message.id) != key
    assert spool.load(message.id).done  # type: ignore[union-attr]
    assert spool.remove(message.id)
    assert not spool.save(message)  # deleted: a late save must not resurrect it
    assert spool.ids() == [] and spool.load(message.id) is None


def test_crash_leftovers_are_discarded(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    spool = Spool(layout)
    torn = make(spool)
    layout.queue_state(torn.id).write_bytes(b'{"version": 1, "id": "')
    no_message = make(spool)
    layout.queue_message(no_message.id).unlink()
    orphan = make(spool)
    layout.queue_state(orphan.id).unlink()
    assert spool.load(torn.id) is None and spool.load(no_message.id) is None
    assert spool.ids() == []
    assert spool.orphans() == [orphan.id]
    assert spool.remove_orphans(older_than=3600) == 0  # might be an enqueue in progress
    assert spool.remove_orphans(older_than=-1) == 1
    assert spool.orphans() == []


def test_newer_version_fails_loudly(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    spool = Spool(layout)
    message = make(spool)
    doc = json.loads(layout.queue_state(message.id).read_bytes())
    doc["version"] = 99
    layout.queue_state(message.id).write_text(json.dumps(doc))
    with pytest.raises(CorruptStore):
        spool.load(message.id)
    assert layout.queue_state(message.id).exists()


def test_queue_ids() -> None:
    qid = new_queue_id()
    assert check_queue_id(qid) == qid and len(qid) == 22
    assert new_queue_id() > qid  # sortable by arrival
    for bad in ("", "../x", qid + "0", qid.upper(), "z" * 22):
        with pytest.raises(ValueError):
            check_queue_id(bad)
