"""Messages in a folder: append, list, flags, expunge, copy, move, quota, orphans, compaction,
meta, and what a second MailStore (another process, a restart) sees."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from rmail.store import folder as folder_module
from rmail.store import layout as layout_module
from rmail.store.errors import CorruptStore, InvalidValue, NotFound, QuotaExceeded
from rmail.store.groupcommit import MAX_BATCH, AppendResult
from rmail.store.journal import parse_journal
from rmail.store.mailbox import REAPER, Folder, MailStore, UserMailbox

from .conftest import message, reopen, state

SEEN, DELETED, FLAGGED = "\\Seen", "\\Deleted", "\\Flagged"


def assert_counts(folder: Folder) -> None:
    """The O(1) counters agree with the records they summarise."""
    st = folder.status()
    recs = folder.records(0, 10**9, newest_first=False)
    assert st.count == len(recs)
    assert st.unseen == sum(SEEN not in r.flags for r in recs)
    assert st.bytes == sum(r.size for r in recs)
    assert st.highestmodseq >= max((r.modseq for r in recs), default=0)
    assert st.uidnext > max((r.uid for r in recs), default=0)


def journal_lines(folder: Folder) -> list[dict[str, object]]:
    data = folder.layout.journal.read_bytes()
    recs, valid = parse_journal(data)
    assert valid == len(data)
    return recs


def fill(folder: Folder, n: int, flags: tuple[str, ...] = ()) -> list[int]:
    return [folder.append(message(i), flags, 1_000_000 + i).uid for i in range(1, n + 1)]


# -- append ------------------------------------------------------------------------------------


def test_append_returns_increasing_uids_and_stores_bytes_exactly(inbox: Folder) -> None:
    raws = [message(1), b"\x00\xff binary \r\n\r\n\x80 not even mail", b"x", b""]
    results = [inbox.append(raw) for raw in raws]
    assert results == [AppendResult(1, 1), AppendResult(2, 2), AppendResult(3, 3),
                       AppendResult(4, 4)]
    for res, raw in zip(results, raws, strict=True):
        assert inbox.read_message(res.uid) == raw
        assert inbox.record(res.uid).size == len(raw)
        assert inbox.message_path(res.uid).read_bytes() == raw
    assert_counts(inbox)


def test_append_records_flags_and_internaldate(inbox: Folder) -> None:
    before = int(time.time())
    a = inbox.append(message(1), ["\\seen", "Work", "work"], 1_600_000_000)
    b = inbox.append(message(2))
    after = int(time.time())
    rec = inbox.record(a.uid)
    assert rec.flags == ("Work", SEEN)  # sorted by code point
    assert rec.internaldate == 1_600_000_000
    assert rec.modseq == 1
    assert before <= inbox.record(b.uid).internaldate <= after
    st = inbox.status()
    assert (st.count, st.unseen, st.uidnext, st.highestmodseq) == (2, 1, 3, 2)
    assert st.bytes == len(message(1)) + len(message(2))


def test_append_refuses_non_bytes(inbox: Folder) -> None:
    with pytest.raises(InvalidValue):
        inbox.append("text")  # type: ignore[arg-type]
    assert inbox.status().count == 0


def test_append_many_is_one_journal_write(inbox: Folder) -> None:
    inbox.append(message(0))
    results = inbox.append_many([(message(i), [SEEN] if i % 2 else [], 1000 + i)
                                 for i in range(1, 6)])
    assert [r.uid for r in results] == [2, 3, 4, 5, 6]
    assert [r.modseq for r in results] == [2, 3, 4, 5, 6]
    assert [inbox.read_message(r.uid) for r in results] == [message(i) for i in range(1, 6)]
    assert [inbox.record(r.uid).internaldate for r in results] == [1001, 1002, 1003, 1004, 1005]
    assert [rec["uid"] for rec in journal_lines(inbox)] == [1, 2, 3, 4, 5, 6]
    assert_counts(inbox)


def test_append_many_of_nothing(inbox: Folder) -> None:
    assert inbox.append_many([]) == []
    assert inbox.status().highestmodseq == 0


def test_staging_dir_is_empty_after_appends(inbox: Folder, mailbox: UserMailbox) -> None:
    fill(inbox, 3)
    assert list(mailbox.layout.staging_dir.iterdir()) == []


# -- reading -----------------------------------------------------------------------------------


def test_records_paging(inbox: Folder) -> None:
    fill(inbox, 7)
    assert [r.uid for r in inbox.records(0, 3)] == [7, 6, 5]
    assert [r.uid for r in inbox.records(3, 3)] == [4, 3, 2]
    assert [r.uid for r in inbox.records(6, 3)] == [1]
    assert inbox.records(7, 3) == []
    assert [r.uid for r in inbox.records(0, 3, newest_first=False)] == [1, 2, 3]
    assert [r.uid for r in inbox.records(5, 3, newest_first=False)] == [6, 7]
    assert inbox.records(9, 3, newest_first=False) == []
    assert inbox.records(0, 0) == []
    assert inbox.uids() == [1, 2, 3, 4, 5, 6, 7]


def test_unknown_uid(inbox: Folder) -> None:
    fill(inbox, 1)
    for call in (inbox.record, inbox.read_message, inbox.message_path, inbox.meta):
        with pytest.raises(NotFound):
            call(2)


def test_missing_message_file_is_not_found(inbox: Folder) -> None:
    fill(inbox, 1)
    os.unlink(inbox.layout.msg_path(1))
    with pytest.raises(NotFound):
        inbox.read_message(1)


def test_meta_is_parsed_and_rebuilt_when_missing_or_torn(inbox: Folder) -> None:
    fill(inbox, 1)
    meta = inbox.meta(1)
    assert meta["summary"]["subject"] == "message 1"
    log = inbox.layout.meta_log
    assert not inbox.layout.meta_path(1).exists()  # one log per folder, no file per message
    whole = log.read_bytes()
    assert whole.splitlines()[1].startswith(b"1 {")
    log.write_bytes(whole[:-20])  # the record torn (a crash mid-append)
    assert reopen_same(inbox).meta(1) == meta
    log.write_bytes(b"")
    assert reopen_same(inbox).meta(1) == meta
    log.unlink()
    assert reopen_same(inbox).meta(1) == meta
    assert log.read_bytes().splitlines()[1].startswith(b"1 {")  # rebuilt and appended


def reopen_same(folder: Folder) -> Folder:
    return reopen(folder.owner.store.layout.root, folder)


def test_second_store_sees_live_changes(inbox: Folder, mail_root: Path) -> None:
    other = reopen(mail_root, inbox)
    assert other.status().count == 0
    fill(inbox, 2)
    assert other.uids() == [1, 2]
    other.store_flags([1], "add", [SEEN])
    assert inbox.record(1).flags == (SEEN,)
    inbox.expunge([2])
    assert state(other) == state(inbox)


# -- flags -------------------------------------------------------------------------------------


def test_store_flags_modes(inbox: Folder) -> None:
    fill(inbox, 3)
    res = inbox.store_flags([1, 2], "add", [SEEN, FLAGGED])
    assert (res.modseq, res.changed, res.failed) == (4, [1, 2], [])
    res = inbox.store_flags([1, 2, 3], "remove", ["\\flagged"])
    assert (res.modseq, res.changed) == (5, [1, 2])
    res = inbox.store_flags([2, 3], "set", ["Work"])
    assert (res.modseq, res.changed) == (6, [2, 3])
    assert [inbox.record(u).flags for u in (1, 2, 3)] == [(SEEN,), ("Work",), ("Work",)]
    assert [inbox.record(u).modseq for u in (1, 2, 3)] == [5, 6, 6]
    assert inbox.status().unseen == 2
    assert_counts(inbox)


def test_store_flags_no_change_costs_nothing(inbox: Folder) -> None:
    fill(inbox, 2, (SEEN,))
    lines = len(journal_lines(inbox))
    res = inbox.store_flags([1, 2, 99], "add", ["\\SEEN"])
    assert (res.modseq, res.changed, res.failed) == (0, [], [])
    assert len(journal_lines(inbox)) == lines
    assert inbox.status().highestmodseq == 2


def test_store_flags_bad_mode(inbox: Folder) -> None:
    fill(inbox, 1)
    with pytest.raises(InvalidValue):
        inbox.store_flags([1], "toggle", [SEEN])


def test_store_flags_unchanged_since(inbox: Folder) -> None:
    fill(inbox, 4)                                        # modseqs 1..4
    inbox.store_flags([3], "add", [FLAGGED])              # UID 3 -> modseq 5
    res = inbox.store_flags([1, 2, 3, 4, 9], "add", [SEEN], unchanged_since=2)
    assert res.failed == [3, 4]
    assert res.changed == [1, 2]
    assert res.modseq == 6
    assert inbox.record(3).flags == (FLAGGED,)
    res = inbox.store_flags([3], "add", [SEEN], unchanged_since=5)
    assert (res.changed, res.failed) == ([3], [])
    assert_counts(inbox)


# -- expunge -----------------------------------------------------------------------------------


def test_expunge_uids_removes_files_after_reaper(inbox: Folder) -> None:
    fill(inbox, 4)
    inbox.meta(2)
    old_meta = inbox.layout.meta_path(2)  # a store from before the meta log had these
    old_meta.parent.mkdir(parents=True)
    old_meta.write_bytes(b"{}")
    paths = [inbox.layout.msg_path(2), old_meta]
    assert inbox.expunge([2, 4, 77]) == [2, 4]
    assert inbox.uids() == [1, 3]
    REAPER.flush()
    assert not any(p.exists() for p in paths)
    assert not inbox.layout.msg_path(4).exists()
    assert inbox.layout.msg_path(1).exists()
    assert inbox.index().vanished_since(0) == [2, 4]
    assert inbox.expunge([2]) == []
    assert_counts(inbox)


def test_expunge_deleted(inbox: Folder) -> None:
    fill(inbox, 5)
    inbox.store_flags([2, 5], "add", [DELETED])
    assert inbox.expunge() == [2, 5]
    assert inbox.uids() == [1, 3, 4]
    assert inbox.expunge() == []
    assert inbox.status().uidnext == 6
    assert_counts(inbox)


def test_expunge_then_append_does_not_reuse_uids(inbox: Folder, mail_root: Path) -> None:
    fill(inbox, 3)
    inbox.expunge([3])
    assert inbox.append(message(9)).uid == 4
    assert reopen(mail_root, inbox).append(message(10)).uid == 5


# -- copy and move -----------------------------------------------------------------------------


def test_copy_keeps_flags_date_and_bytes(mailbox: UserMailbox, inbox: Folder) -> None:
    fill(inbox, 3)
    inbox.store_flags([1, 3], "add", [SEEN, "Work"])
    archive = mailbox.folder("Archive")
    archive.append(message(100))
    pairs = inbox.copy([3, 1, 99], archive)
    assert pairs == [(1, 2), (3, 3)]
    for src, dst in pairs:
        a, b = inbox.record(src), archive.record(dst)
        assert (a.flags, a.size, a.internaldate) == (b.flags, b.size, b.internaldate)
        assert archive.read_message(dst) == inbox.read_message(src)
        assert archive.meta(dst) == inbox.meta(src)
    assert inbox.uids() == [1, 2, 3]
    assert inbox.copy([42], archive) == []
    assert_counts(archive)


def test_copied_message_survives_expunge_of_original(mailbox: UserMailbox,
                                                     inbox: Folder) -> None:
    fill(inbox, 1)
    trash = mailbox.folder("Trash")
    [(_, new)] = inbox.copy([1], trash)
    inbox.expunge([1])
    REAPER.flush()
    assert trash.read_message(new) == message(1)


def test_copy_into_same_folder(inbox: Folder) -> None:
    fill(inbox, 2)
    assert inbox.copy([1, 2], inbox) == [(1, 3), (2, 4)]
    assert inbox.read_message(4) == message(2)


def test_move(mailbox: UserMailbox, inbox: Folder) -> None:
    fill(inbox, 4)
    inbox.store_flags([2], "add", [FLAGGED])
    junk = mailbox.folder("Junk")
    assert inbox.move([2, 3], junk) == [(2, 1), (3, 2)]
    assert inbox.uids() == [1, 4]
    assert junk.uids() == [1, 2]
    assert junk.record(1).flags == (FLAGGED,)
    assert junk.read_message(2) == message(3)
    assert inbox.index().vanished_since(0) == [2, 3]
    assert inbox.move([1], mailbox.folder("inbox")) == [(1, 5)]  # RFC 6851: COPY + EXPUNGE
    assert inbox.uids() == [4, 5]
    assert inbox.read_message(5) == message(1)
    assert_counts(inbox)
    assert_counts(junk)


# -- quota ---------------------------------------------------------------------------------------


def test_quota_exceeded_stores_nothing(mailbox: UserMailbox, inbox: Folder) -> None:
    inbox.append(b"x" * 600)
    sent = mailbox.folder("Sent")
    sent.append(b"y" * 300)
    assert mailbox.usage_bytes() == 900
    before = (state(inbox), state(sent))
    with pytest.raises(QuotaExceeded):
        sent.append(b"z" * 101, quota_bytes=1000)
    with pytest.raises(QuotaExceeded):
        inbox.append_many([(b"a" * 50, [], None), (b"b" * 51, [], None)], quota_bytes=1000)
    with pytest.raises(QuotaExceeded):
        inbox.copy([1], sent, quota_bytes=1000)
    assert (state(inbox), state(sent)) == before
    assert list(mailbox.layout.staging_dir.iterdir()) == []
    assert sent.append(b"z" * 100, quota_bytes=1000).uid == 2  # exactly at the limit is fine
    assert mailbox.usage_bytes() == 1000


# -- crash leftovers ---------------------------------------------------------------------------


def test_unacknowledged_leftover_is_replaced_by_next_append(inbox: Folder,
                                                             mail_root: Path) -> None:
    """A message file at `uidnext` with no journal line comes from a commit that crashed
    before its journal sync: it was never acknowledged (and its data may be short), so the
    next append takes the UID."""
    fill(inbox, 2)
    leftover = inbox.layout.msg_path(3)
    leftover.write_bytes(b"half a message from a crash")
    res = inbox.append(message(9))
    assert res.uid == 3
    assert inbox.read_message(3) == message(9)
    assert state(reopen(mail_root, inbox)) == state(inbox)
    assert_counts(inbox)


def test_leftover_in_new_bucket_is_replaced(inbox: Folder) -> None:
    leftover = inbox.layout.msg_path(1)
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"orphan")
    assert inbox.append(message(2)).uid == 1
    assert inbox.uids() == [1]
    assert inbox.read_message(1) == message(2)


def test_short_file_of_last_wave_is_dropped_on_first_open(inbox: Folder, mail_root: Path,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    """A crash after the journal sync but before the message sync leaves an index entry
    whose file is short; it was never acknowledged, and the next process drops it, saying
    so (the same check also meets files really lost, which someone should hear about)."""
    fill(inbox, 3)
    inbox.layout.msg_path(3).write_bytes(b"")
    again = reopen(mail_root, inbox)
    with caplog.at_level("WARNING", logger="rmail.store.folder"):
        again.append(message(7))
    assert again.uids() == [1, 2, 4]
    assert 3 in (again.index().vanished_since(0) or [])
    dropped = [r.getMessage() for r in caplog.records if "dropped 1 index entries" in
               r.getMessage()]
    assert len(dropped) == 1 and "(UIDs 3)" in dropped[0] and "'INBOX'" in dropped[0]


def test_unsynced_files_of_any_wave_since_the_snapshot_are_dropped(inbox: Folder,
                                                                   mail_root: Path) -> None:
    """Commit waves sync outside the folder lock, so after a crash a journal line made durable
    by a later writer's wave may name a file that was never synced, many batches back: the
    first open checks every append since the snapshot, not only the newest batch."""
    many = MAX_BATCH + 40
    inbox.append_many([(message(i), (), None) for i in range(1, many + 1)])
    inbox.append(message(0))  # a second batch: uid 1 is far from the journal's end
    inbox.layout.msg_path(1).write_bytes(b"")  # synced by no wave before the crash
    os.unlink(inbox.layout.msg_path(2))  # its rename never reached the disk
    again = reopen(mail_root, inbox)
    assert again.uids()[:2] == [3, 4]
    assert len(again.uids()) == many - 1
    assert {1, 2} <= set(again.index().vanished_since(0) or [])


def test_compactions_between_pipelined_waves_keep_every_message(
        inbox: Folder, mail_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compaction under the lock may fold appends whose sync wave is still running (the
    next batch is placed while the previous one syncs): it syncs their files itself, and
    every acknowledged message is there, readable, after a reopen."""
    monkeypatch.setattr(folder_module, "COMPACT_MIN_BYTES", 1)  # compact at nearly every write
    results: dict[int, int] = {}

    def writer(t: int) -> None:
        for i in range(15):
            results[t * 100 + i] = inbox.append(message(t * 100 + i)).uid

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(results.values())) == 120
    again = reopen(mail_root, inbox)
    assert sorted(again.uids()) == sorted(results.values())
    for n, uid in results.items():
        assert again.read_message(uid) == message(n)


def test_torn_journal_tail_is_ignored_and_trimmed(inbox: Folder, mail_root: Path) -> None:
    fill(inbox, 2)
    expected = state(inbox)
    with open(inbox.layout.journal, "ab") as f:
        f.write(b'{"op":"append","modseq":3,"ui')
    fresh = reopen(mail_root, inbox)
    assert state(fresh) == expected
    assert fresh.append(message(3)).uid == 3
    assert [r["uid"] for r in journal_lines(fresh)] == [1, 2, 3]
    assert state(reopen(mail_root, inbox)) == state(fresh)


def test_torn_journal_tail_is_trimmed_by_a_writer_holding_the_journal(inbox: Folder,
                                                                      mail_root: Path) -> None:
    """A writer that has committed before keeps the journal pinned and knows its size from the
    refresh under the lock: a torn tail another process left meanwhile is still cut off."""
    fill(inbox, 2)
    assert inbox._pins is not None
    with open(inbox.layout.journal, "ab") as f:
        f.write(b'{"op":"append","modseq":3,"ui')
    assert inbox.append(message(3)).uid == 3
    assert [r["uid"] for r in journal_lines(inbox)] == [1, 2, 3]
    assert state(reopen(mail_root, inbox)) == state(inbox)


def test_corrupt_journal_middle_fails_loudly(inbox: Folder, mail_root: Path) -> None:
    fill(inbox, 2)
    data = inbox.layout.journal.read_bytes()
    inbox.layout.journal.write_bytes(b"garbage\n" + data)
    with pytest.raises(CorruptStore):
        reopen(mail_root, inbox).status()


def test_corrupt_snapshot_fails_loudly(inbox: Folder, mail_root: Path) -> None:
    fill(inbox, 2)
    inbox.compact()
    snap = inbox.layout.snapshot
    snap.write_bytes(snap.read_bytes()[:-30])
    with pytest.raises(CorruptStore):
        reopen(mail_root, inbox).status()


# -- concurrency within one process --------------------------------------------------------------


def test_concurrent_appends_from_threads(inbox: Folder, mail_root: Path) -> None:
    per_thread = 10
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def worker(t: int) -> None:
        try:
            start.wait()
            results[t] = [inbox.append(message(t * 1000 + i), [SEEN] if i % 2 else []).uid
                          for i in range(per_thread)]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    uids = [u for us in results.values() for u in us]
    assert sorted(uids) == list(range(1, 16 * per_thread + 1))
    fresh = reopen(mail_root, inbox)
    for t, us in results.items():
        for i, uid in enumerate(us):
            assert fresh.read_message(uid) == message(t * 1000 + i)
    assert state(fresh) == state(inbox)
    assert fresh.status().unseen == 16 * per_thread // 2
    assert_counts(fresh)


# -- compaction ----------------------------------------------------------------------------------


def test_forced_compaction_keeps_state(inbox: Folder, mail_root: Path) -> None:
    fill(inbox, 6)
    inbox.store_flags([1, 2], "add", [SEEN])
    inbox.expunge([3])
    before = state(inbox)
    inbox.compact()
    assert inbox.layout.journal.read_bytes() == b""
    assert state(inbox) == before
    assert state(reopen(mail_root, inbox)) == before
    inbox.append(message(7))
    assert state(reopen(mail_root, inbox)) == state(inbox)


def test_compaction_by_size(inbox: Folder, mail_root: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder_module, "COMPACT_MIN_BYTES", 2000)
    compactions = 0
    size = 0
    for i in range(100):
        inbox.append(message(i), [SEEN] if i % 3 else [])
        if i % 4 == 0:
            inbox.store_flags([i + 1], "add", [f"k{i % 5}"])
        new_size = inbox.layout.journal.stat().st_size
        compactions += new_size < size
        size = new_size
        assert size <= 2000
    assert compactions >= 3
    assert state(reopen(mail_root, inbox)) == state(inbox)
    assert_counts(inbox)


def test_other_store_follows_compaction(inbox: Folder, mail_root: Path) -> None:
    other = reopen(mail_root, inbox)
    fill(inbox, 3)
    assert other.uids() == [1, 2, 3]
    inbox.compact()
    inbox.store_flags([2], "add", [SEEN])
    assert state(other) == state(inbox)
    other.compact()
    other.append(message(4))
    assert state(inbox) == state(other)


def test_reopen_after_compaction_crash_replays_idempotently(inbox: Folder,
                                                            mail_root: Path) -> None:
    """A crash after the new snapshot but before the journal is emptied: replay skips the
    journal lines the snapshot already contains."""
    fill(inbox, 3)
    inbox.store_flags([1], "add", [SEEN])
    old_journal = inbox.layout.journal.read_bytes()
    inbox.compact()
    expected = state(inbox)
    inbox.layout.journal.write_bytes(old_journal)
    assert state(reopen(mail_root, inbox)) == expected


# -- user-level ----------------------------------------------------------------------------------


def test_forget_drops_cached_mailbox(store: MailStore, mailbox: UserMailbox) -> None:
    assert store.mailbox(mailbox.domain, mailbox.username) is mailbox
    store.forget(mailbox.domain, mailbox.username)
    assert store.mailbox(mailbox.domain, mailbox.username) is not mailbox


def test_messages_across_buckets(inbox: Folder, mail_root: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout_module, "MSG_BUCKET", 4)
    fill(inbox, 9)
    assert sorted(p.name for p in (inbox.layout.dir / "msg").iterdir()) == ["0", "1", "2"]
    assert inbox.layout.msg_path(9) == inbox.layout.dir / "msg" / "2" / "9.eml"
    inbox.copy([1, 2, 3], inbox)
    fresh = reopen(mail_root, inbox)
    assert [fresh.read_message(u) for u in range(1, 10)] == [message(i) for i in range(1, 10)]
    assert fresh.read_message(12) == message(3)
    assert fresh.meta(12)["summary"]["subject"] == "message 3"


def test_large_message_is_byte_exact(inbox: Folder) -> None:
    raw = message(1, bytes(range(256)) * 8192)  # 2 MiB with every byte value
    uid = inbox.append(raw).uid
    assert inbox.read_message(uid) == raw
    assert inbox.status().bytes == len(raw)
