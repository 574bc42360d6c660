"""The folder header cache (rmail.store.headercache): kept at delivery, rebuilt when missing,
outdated or foreign, safe against torn appends and concurrent writers, compacted after
expunges."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import orjson
import pytest

from rmail.mail import headerkeys as hk
from rmail.store.mailbox import Folder
from tests.store.conftest import message, reopen


def _cache_file(folder: Folder) -> Path:
    return folder.layout.dir / "headers.jsonl"


def _lines(folder: Folder) -> list[bytes]:
    return _cache_file(folder).read_bytes().splitlines()


def test_delivery_writes_records_another_process_reads_them(mail_root: Path,
                                                            inbox: Folder) -> None:
    inbox.append_many([(message(i), (), None) for i in range(1, 4)])
    lines = _lines(inbox)
    assert orjson.loads(lines[0])["version"] == 1
    assert [orjson.loads(x)[0] for x in lines[1:]] == [1, 2, 3]
    other = reopen(mail_root, inbox)
    other.layout.meta_log.unlink()  # the records come from the cache file alone
    recs = other.header_records([1, 2, 3])
    assert [r[hk.F_MESSAGE_ID] for r in recs] == ["<1@example.org>", "<2@example.org>",
                                                   "<3@example.org>"]
    assert recs[1][hk.F_FROM] == "sender2@example.org"
    assert recs[1][hk.F_BASE] == "MESSAGE 2"
    inbox.append(message(4))  # the other process follows appends by offset
    assert other.header_records([4])[0][hk.F_SUBJECT] == "message 4"


def test_missing_cache_is_rebuilt_from_meta(mail_root: Path, inbox: Folder) -> None:
    inbox.append_many([(message(i), (), None) for i in range(1, 4)])
    os.unlink(_cache_file(inbox))
    other = reopen(mail_root, inbox)
    assert [r[hk.F_UID] for r in other.header_records([3, 1, 2])] == [3, 1, 2]
    assert len(_lines(other)) == 4  # header line and three records, written back


def test_other_version_or_uidvalidity_starts_again(mail_root: Path, inbox: Folder) -> None:
    inbox.append(message(1))
    path = _cache_file(inbox)
    lines = _lines(inbox)
    head = orjson.loads(lines[0])
    for bad in ({**head, "version": 99}, {**head, "keys": 99}, {**head, "uidvalidity": 1}):
        record = orjson.loads(lines[1])
        record[hk.F_SUBJECT] = "stale"
        path.write_bytes(orjson.dumps(bad) + b"\n" + orjson.dumps(record) + b"\n")
        other = reopen(mail_root, inbox)
        assert other.header_records([1])[0][hk.F_SUBJECT] == "message 1", bad
        assert orjson.loads(_lines(other)[0]) == head


def test_torn_tail_is_ignored_and_cut_off(mail_root: Path, inbox: Folder) -> None:
    inbox.append_many([(message(i), (), None) for i in range(1, 3)])
    with open(_cache_file(inbox), "ab") as f:
        f.write(b'[3,"<3@exam')  # a crash in the middle of an append
    other = reopen(mail_root, inbox)
    assert [r[hk.F_UID] for r in other.header_records([1, 2])] == [1, 2]
    other.append(message(3))
    lines = _lines(other)
    assert [orjson.loads(x)[0] for x in lines[1:]] == [1, 2, 3]
    garbled = _cache_file(inbox).read_bytes().replace(b"[2,", b"[2;", 1)
    _cache_file(inbox).write_bytes(garbled)  # a damaged line: it and what follows recomputed
    third = reopen(mail_root, inbox)
    assert [r[hk.F_SUBJECT] for r in third.header_records([1, 2, 3])] == [
        "message 1", "message 2", "message 3"]


def test_gone_message_has_no_record(inbox: Folder) -> None:
    inbox.append(message(1))
    assert inbox.header_records([1, 99]) == [inbox.header_records([1])[0], None]


def test_compaction_after_expunges(inbox: Folder) -> None:
    inbox.append_many([(message(i), (), None) for i in range(1, 1201)])
    inbox.expunge(list(range(1, 1191)))
    recs = inbox.header_records([1191, 1200])
    assert [r[hk.F_UID] for r in recs] == [1191, 1200]
    assert [orjson.loads(x)[0] for x in _lines(inbox)[1:]] == list(range(1191, 1201))


def test_concurrent_deliveries_and_readers_keep_a_whole_file(mail_root: Path,
                                                             inbox: Folder) -> None:
    other = reopen(mail_root, inbox)
    errors: list[BaseException] = []

    def deliver(base: int) -> None:
        try:
            for i in range(20):
                inbox.append(message(base + i))
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(20):
                other.header_records(other.uids())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n * 100,)) for n in range(4)]
    threads.append(threading.Thread(target=read))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    uids = inbox.uids()
    assert len(uids) == 80
    lines = _lines(inbox)
    assert sorted(orjson.loads(x)[0] for x in lines[1:]) == uids  # each record exactly once
    fresh = reopen(mail_root, inbox)
    assert all(r is not None for r in fresh.header_records(uids))


def test_placed_record_replaces_the_leftover_of_a_batch_never_committed(
        mail_root: Path, inbox: Folder) -> None:
    """Records are written while a batch is placed, before its journal line is on disk: after
    a crash the cache may hold a record for a UID the journal never recorded, which the next
    batch is given again. Its record must be the new message's, in this and every process."""
    inbox.append(message(1))
    stale = orjson.loads(_lines(inbox)[1])
    stale[hk.F_UID], stale[hk.F_SUBJECT] = 2, "never committed"
    with open(_cache_file(inbox), "ab") as f:
        f.write(orjson.dumps(stale) + b"\n")
    other = reopen(mail_root, inbox)
    other.append(message(2))
    assert other.header_records([2])[0][hk.F_SUBJECT] == "message 2"
    assert reopen(mail_root, inbox).header_records([2])[0][hk.F_SUBJECT] == "message 2"
    assert not (inbox.layout.dir / "headers.lock").exists()  # the folder's lock is the one


def test_records_made_at_staging_equal_those_made_from_the_meta() -> None:
    """An append builds its record from the parse it stages the message with; a search that
    finds a record missing builds it from the stored meta. Both must be the same record."""
    from rmail.store import groupcommit

    fixtures = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
    if not fixtures.is_dir():
        pytest.skip(f"{fixtures} is absent (the shared fixtures are present in CI)")
    files = [p for p in sorted(fixtures.rglob("*")) if p.suffix in (".eml", ".txt", ".msg")]
    files += [p for p in sorted((fixtures / "mime").iterdir()) if p.is_file()]
    checked = 0
    for path in dict.fromkeys(files):
        raw = path.read_bytes()
        meta, header = groupcommit.parse_for_store(raw)
        assert header == groupcommit.header_of(meta), path
        checked += meta is not None
    assert checked >= 10


def test_a_process_that_only_delivers_never_loads_the_records(mail_root: Path,
                                                              inbox: Folder) -> None:
    """A worker delivering into a big INBOX must not hold every message's record in memory
    (about 1.2 KB each): it appends at the end of the file without reading it."""
    inbox.append_many([(message(i), (), None) for i in range(1, 51)])
    worker = reopen(mail_root, inbox)
    worker.append_many([(message(i), (), None) for i in range(51, 54)])
    inbox.append(message(54))  # another process writes in between
    worker.append(message(55))
    assert worker.headers.size() == 0
    assert [orjson.loads(x)[0] for x in _lines(inbox)[1:]] == list(range(1, 56))
    assert [r[hk.F_SUBJECT] for r in reopen(mail_root, inbox).header_records([51, 54, 55])] \
        == ["message 51", "message 54", "message 55"]


def test_a_writer_that_never_loaded_cuts_a_torn_tail_and_restarts_a_foreign_file(
        mail_root: Path, inbox: Folder) -> None:
    inbox.append_many([(message(i), (), None) for i in range(1, 3)])
    with open(_cache_file(inbox), "ab") as f:
        f.write(b'[3,"<3@exam')  # a crash in the middle of an append
    worker = reopen(mail_root, inbox)
    worker.append(message(3))
    assert [orjson.loads(x)[0] for x in _lines(inbox)[1:]] == [1, 2, 3]
    head = orjson.loads(_lines(inbox)[0])
    _cache_file(inbox).write_bytes(orjson.dumps({**head, "uidvalidity": 1}) + b"\n")
    worker.append(message(4))  # the file changed since its own append: checked again
    lines = _lines(inbox)
    assert orjson.loads(lines[0]) == head
    assert [orjson.loads(x)[0] for x in lines[1:]] == [4]
    assert [r[hk.F_SUBJECT] for r in reopen(mail_root, inbox).header_records([1, 4])] \
        == ["message 1", "message 4"]  # what the restart dropped is computed again
