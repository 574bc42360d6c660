"""journal: the pure folder index (FolderIndex), its snapshot format and journal parsing."""

from __future__ import annotations

import io
import json

import pytest

from rmail.store import journal
from rmail.store.errors import CorruptStore
from rmail.store.journal import (
    FolderIndex,
    MessageRecord,
    dump_record,
    iter_ranges,
    normalize_flags,
    parse_journal,
    to_ranges,
)

SEEN, DELETED, FLAGGED = "\\Seen", "\\Deleted", "\\Flagged"


def build(*flag_lists: list[str], uids: list[int] | None = None) -> FolderIndex:
    """An index with one appended message per flag list (size 10*uid, date 1000+uid)."""
    idx = FolderIndex(42)
    for uid, flags in zip(uids or range(1, len(flag_lists) + 1), flag_lists, strict=True):
        assert idx.apply(idx.op_append(uid, flags, 10 * uid, 1000 + uid, idx.highestmodseq + 1))
    return idx


def records(idx: FolderIndex) -> list[MessageRecord]:
    return [idx.record_at(i) for i in range(len(idx))]


def roundtrip(idx: FolderIndex) -> FolderIndex:
    buf = io.BytesIO()
    idx.write_snapshot(buf)
    return FolderIndex.read_snapshot(io.BytesIO(buf.getvalue()))


def snapshot_bytes(idx: FolderIndex) -> bytes:
    buf = io.BytesIO()
    idx.write_snapshot(buf)
    return buf.getvalue()


# -- flags and ranges ---------------------------------------------------------------------------


def test_normalize_flags_system_flags_take_canonical_case() -> None:
    assert normalize_flags(["\\seen", "\\FLAGGED", "\\Answered"]) == (
        "\\Answered", "\\Flagged", "\\Seen")


def test_normalize_flags_keywords_keep_first_case_and_dedupe() -> None:
    assert normalize_flags(["Work", "work", "WORK", "$Label1"]) == ("$Label1", "Work")


def test_normalize_flags_sorted_and_deduplicated() -> None:
    assert normalize_flags(["b", "a", "\\Seen", "a", "\\seen"]) == ("\\Seen", "a", "b")
    assert normalize_flags([]) == ()


@pytest.mark.parametrize(("uids", "ranges"), [
    ([], []), ([5], [[5, 5]]), ([1, 2, 3, 7], [[1, 3], [7, 7]]),
    ([1, 3, 5], [[1, 1], [3, 3], [5, 5]]), ([4, 5, 6, 7, 9, 10], [[4, 7], [9, 10]])])
def test_to_ranges_and_back(uids: list[int], ranges: list[list[int]]) -> None:
    assert to_ranges(uids) == ranges
    assert list(iter_ranges(ranges)) == uids


# -- building ops -------------------------------------------------------------------------------


def test_op_append_normalises_flags() -> None:
    idx = FolderIndex(1)
    assert idx.op_append(1, ["\\seen", "x"], 5, 7, 1) == {
        "op": "append", "modseq": 1, "uid": 1, "flags": ["\\Seen", "x"], "size": 5, "date": 7}


def test_op_flags_lists_only_messages_that_change() -> None:
    idx = build([SEEN], [], [SEEN, FLAGGED], [])
    op = idx.op_flags([1, 2, 3, 4, 99], "add", ["\\seen"], 5)
    assert op == {"op": "flags", "modseq": 5, "mode": "add", "flags": [SEEN],
                  "uids": [[2, 2], [4, 4]]}
    assert idx.op_flags([1, 3], "add", [SEEN], 5) is None
    assert idx.op_flags([99], "set", [], 5) is None


def test_op_flags_set_and_remove() -> None:
    idx = build([SEEN], [SEEN, FLAGGED], [])
    assert idx.op_flags([1, 2, 3], "set", [SEEN], 4)["uids"] == [[2, 3]]
    assert idx.op_flags([1, 2, 3], "remove", ["\\SEEN"], 4)["uids"] == [[1, 2]]
    assert idx.op_flags([3], "remove", [SEEN], 4) is None


def test_op_expunge_only_present_uids() -> None:
    idx = build([], [], [])
    assert idx.op_expunge([3, 1, 1, 7], 4) == {"op": "expunge", "modseq": 4,
                                               "uids": [[1, 1], [3, 3]]}
    assert idx.op_expunge([7, 8], 4) is None


# -- apply -------------------------------------------------------------------------------------


def test_apply_append_updates_counters() -> None:
    idx = build([SEEN], [], [FLAGGED])
    assert len(idx) == 3
    assert idx.uidnext == 4
    assert idx.highestmodseq == 3
    assert idx.unseen == 2
    assert idx.total_bytes == 60
    assert idx.record(2) == MessageRecord(2, (), 20, 1002, 2)
    assert idx.record(9) is None
    assert idx.position(3) == 2


def test_apply_flags_sets_modseq_of_changed_only() -> None:
    idx = build([], [], [])
    op = idx.op_flags([1, 3], "add", [SEEN], 4)
    assert idx.apply(op)
    assert [r.modseq for r in records(idx)] == [4, 2, 4]
    assert [r.flags for r in records(idx)] == [(SEEN,), (), (SEEN,)]
    assert idx.unseen == 1
    assert idx.highestmodseq == 4


def test_apply_is_idempotent_on_replay() -> None:
    idx = build([], [])
    ops = [idx.op_flags([1], "add", [SEEN], 3)]
    idx.apply(ops[0])
    ops.append(idx.op_expunge([2], 4))
    idx.apply(ops[1])
    before = (records(idx), idx.highestmodseq, idx.unseen, idx.total_bytes, idx.uidnext)
    for op in ops:  # a replay after a crash between snapshot and journal truncation
        assert idx.apply(op) is False
    assert idx.apply(idx.op_append(1, [], 1, 1, 2)) is False  # old modseq: ignored, no error
    assert (records(idx), idx.highestmodseq, idx.unseen, idx.total_bytes, idx.uidnext) == before


def test_apply_flag_modes_case_insensitive_remove() -> None:
    idx = build(["Work", SEEN])
    idx.apply({"op": "flags", "modseq": 2, "mode": "remove", "flags": ["work"], "uids": [[1, 1]]})
    assert idx.record(1).flags == (SEEN,)
    idx.apply({"op": "flags", "modseq": 3, "mode": "add", "flags": ["\\Flagged"],
               "uids": [[1, 1]]})
    assert idx.record(1).flags == (FLAGGED, SEEN)
    idx.apply({"op": "flags", "modseq": 4, "mode": "set", "flags": [], "uids": [[1, 1]]})
    assert idx.record(1).flags == ()
    assert idx.unseen == 1


def test_apply_append_out_of_order_is_corrupt() -> None:
    idx = build([], [], uids=[1, 5])
    with pytest.raises(CorruptStore):
        idx.apply(idx.op_append(5, [], 1, 1, 3))
    with pytest.raises(CorruptStore):
        idx.apply(idx.op_append(4, [], 1, 1, 3))


def test_apply_unknown_op_or_mode_is_corrupt() -> None:
    idx = build([])
    with pytest.raises(CorruptStore):
        idx.apply({"op": "frobnicate", "modseq": 5})
    with pytest.raises(CorruptStore):
        idx.apply({"op": "flags", "modseq": 6, "mode": "toggle", "flags": [], "uids": [[1, 1]]})


def test_uidnext_survives_expunge_of_last_message() -> None:
    idx = build([], [], [])
    idx.apply(idx.op_expunge([3], 4))
    assert idx.uidnext == 4
    assert roundtrip(idx).uidnext == 4


# -- expunge, tombstones, change tracking ------------------------------------------------------


def test_expunge_few_updates_columns_and_counters() -> None:
    idx = build(*([[]] * 10))
    idx.apply(idx.op_flags([2], "add", [SEEN], 11))
    idx.apply(idx.op_expunge([2, 5], 12))
    assert idx.uids.tolist() == [1, 3, 4, 6, 7, 8, 9, 10]
    assert idx.sizes.tolist() == [10 * u for u in idx.uids]
    assert idx.unseen == 8
    assert idx.total_bytes == sum(10 * u for u in idx.uids)
    assert idx.vanished_since(0) == [2, 5]
    assert idx.vanished_since(12) == []


def test_expunge_many_takes_the_rebuild_path() -> None:
    idx = build(*([[SEEN]] * 3 + [[]] * 3))
    idx.apply(idx.op_expunge([1, 2, 4, 6], 7))
    assert [(r.uid, r.flags, r.size, r.internaldate) for r in records(idx)] == [
        (3, (SEEN,), 30, 1003), (5, (), 50, 1005)]
    assert idx.unseen == 1
    assert idx.total_bytes == 80


def test_vanished_since_by_modseq() -> None:
    idx = build(*([[]] * 5))
    idx.apply(idx.op_expunge([1], 6))
    idx.apply(idx.op_expunge([4, 5], 7))
    assert idx.vanished_since(0) == [1, 4, 5]
    assert idx.vanished_since(6) == [4, 5]
    assert idx.vanished_since(7) == []
    assert idx.vanished_floor == 0


def test_tombstones_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "MAX_TOMBSTONES", 3)
    idx = build(*([[]] * 6))
    for modseq, uid in enumerate([1, 2, 3, 4, 5], start=7):
        idx.apply(idx.op_expunge([uid], modseq))
    assert idx.tomb_uids.tolist() == [3, 4, 5]
    assert idx.vanished_floor == 8  # the modseq that expunged UID 2, the newest dropped
    assert idx.vanished_since(7) is None  # too old: the caller must assume all vanished
    assert idx.vanished_since(8) == [3, 4, 5]
    assert idx.vanished_since(10) == [5]
    again = roundtrip(idx)
    assert again.vanished_floor == 8
    assert again.vanished_since(7) is None
    assert again.vanished_since(9) == [4, 5]


def test_changed_since() -> None:
    idx = build([], [], [], [])
    idx.apply(idx.op_flags([2, 4], "add", [FLAGGED], 5))
    idx.apply(idx.op_flags([4], "add", [SEEN], 6))
    assert idx.changed_since(0) == [1, 2, 3, 4]
    assert idx.changed_since(3) == [2, 4]
    assert idx.changed_since(5) == [4]
    assert idx.changed_since(6) == []


def test_positions_in() -> None:
    idx = build([], [], [], uids=[2, 5, 9])
    assert list(idx.positions_in(1, 5)) == [0, 1]
    assert list(idx.positions_in(6, 8)) == []
    assert list(idx.positions_in(9, 100)) == [2]


# -- snapshot ----------------------------------------------------------------------------------


def test_snapshot_round_trip_with_gaps_tombstones_and_flagsets() -> None:
    idx = build([SEEN], ["a"], [SEEN, "b"], [], uids=[1, 7, 300, 100_000])
    idx.apply(idx.op_flags([7], "set", ["c"], 5))  # flagset ("a",) is now unused
    idx.apply(idx.op_expunge([300], 6))
    again = roundtrip(idx)
    assert records(again) == records(idx)
    assert (again.uidvalidity, again.uidnext, again.highestmodseq) == (42, 100_001, 6)
    assert (again.unseen, again.total_bytes) == (idx.unseen, idx.total_bytes)
    assert again.vanished_since(0) == [300]
    assert again.flagsets == [("\\Seen",), (), ("c",)]  # only live sets, ids remapped
    header = json.loads(snapshot_bytes(idx).split(b"\n")[0])
    assert header["flagsets"] == [["\\Seen"], [], ["c"]]
    uid_line = json.loads(snapshot_bytes(idx).split(b"\n")[1])
    assert uid_line == {"column": "uid", "delta": True, "values": [1, 6, 99_993]}


def test_snapshot_of_empty_index() -> None:
    again = roundtrip(FolderIndex(9))
    assert (len(again), again.uidvalidity, again.uidnext, again.highestmodseq) == (0, 9, 1, 0)


def test_snapshot_keeps_working_after_reload_and_more_changes() -> None:
    again = roundtrip(build([], [SEEN]))
    again.apply(again.op_flags([1], "add", [SEEN], 3))
    again.apply(again.op_append(3, [], 30, 1003, 4))
    assert [r.flags for r in records(again)] == [(SEEN,), (SEEN,), ()]
    assert again.unseen == 1


def test_snapshot_truncated_anywhere_is_corrupt() -> None:
    data = snapshot_bytes(build([SEEN], [], ["x"]))
    for cut in range(len(data) - 1):  # only the final newline may go
        with pytest.raises(CorruptStore):
            FolderIndex.read_snapshot(io.BytesIO(data[:cut]))
    assert len(FolderIndex.read_snapshot(io.BytesIO(data[:-1]))) == 3


@pytest.mark.parametrize("mangle", [
    lambda d: d.replace(b'"version": 1', b'"version": 2'),
    lambda d: d.replace(b'"column":"size"', b'"column":"color"'),
    lambda d: d.replace(b'"values":[10,20,30]', b'"values":[10,20]'),
    lambda d: d.replace(b'"tomb_modseq","delta":false,"values":[]',
                        b'"tomb_modseq","delta":false,"values":[4]'),
    lambda d: d.replace(b'"count": 3', b'"count": 4'),
    lambda d: d.replace(b'[1,1,1]', b'[1,"x",1]'),
    lambda d: b"[]\n" + d.split(b"\n", 1)[1],
    lambda d: b"garbage\n" + d,
])
def test_snapshot_garbled_is_corrupt(mangle) -> None:  # type: ignore[no-untyped-def]
    data = snapshot_bytes(build([SEEN], [], ["x"]))
    bad = mangle(data)
    assert bad != data
    with pytest.raises(CorruptStore):
        FolderIndex.read_snapshot(io.BytesIO(bad))


# -- journal parsing -------------------------------------------------------------------------


def journal_bytes(*recs: dict[str, object]) -> bytes:
    return b"".join(dump_record(r) for r in recs)


A1 = {"op": "append", "modseq": 1, "uid": 1, "flags": [], "size": 3, "date": 0}
A2 = {"op": "append", "modseq": 2, "uid": 2, "flags": ["\\Seen"], "size": 4, "date": 0}
F3 = {"op": "flags", "modseq": 3, "mode": "add", "flags": ["ü"], "uids": [[1, 2]]}


def test_dump_record_is_one_utf8_line() -> None:
    line = dump_record(F3)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert "ü".encode() in line
    assert json.loads(line) == F3


def test_parse_journal_complete() -> None:
    data = journal_bytes(A1, A2, F3)
    assert parse_journal(data) == ([A1, A2, F3], len(data))
    assert parse_journal(b"") == ([], 0)


def test_parse_journal_torn_tail_at_every_byte() -> None:
    data = journal_bytes(A1, A2, F3)
    ends = [len(journal_bytes(A1)), len(journal_bytes(A1, A2)), len(data)]
    for cut in range(len(data) + 1):
        recs, valid = parse_journal(data[:cut])
        complete = [e for e in ends if e <= cut]
        assert valid == (complete[-1] if complete else 0)
        assert recs == [A1, A2, F3][:len(complete)]


def test_parse_journal_garbled_last_line_is_torn() -> None:
    good = journal_bytes(A1, A2)
    assert parse_journal(good + b'{"op": "flags", "mod\x00\n') == ([A1, A2], len(good))
    assert parse_journal(good + b'{"no": "op"}\n') == ([A1, A2], len(good))


def test_parse_journal_corrupt_middle_line() -> None:
    with pytest.raises(CorruptStore):
        parse_journal(journal_bytes(A1) + b"garbage\n" + journal_bytes(A2))
    with pytest.raises(CorruptStore):
        parse_journal(journal_bytes(A1) + b"[1, 2]\n" + journal_bytes(A2))
    with pytest.raises(CorruptStore):
        parse_journal(journal_bytes(A1) + b'{"op": "append"}\n' + journal_bytes(A2))


def test_replaying_journal_rebuilds_index() -> None:
    idx = FolderIndex(1)
    recs, _ = parse_journal(journal_bytes(A1, A2, F3))
    for rec in recs:
        idx.apply(rec)
    assert [r.flags for r in records(idx)] == [("ü",), ("\\Seen", "ü")]
    assert idx.unseen == 1
    assert idx.highestmodseq == 3
