"""Property tests: replaying snapshot + journal always rebuilds exactly the live state, and a
journal cut at any byte opens to the state after some acknowledged operation.

Operations run against a real MailStore on a temporary directory and against `Model`, a plain
dict-based folder written independently of the index code.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmail.store.journal import parse_journal
from rmail.store.mailbox import REAPER, Folder, MailStore, UserMailbox

DOMAIN, USER = "example.com", "alice"
FOLDERS = ("INBOX", "Other")
SYSTEM = {f.lower(): f for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")}
FLAG_POOL = ["\\Seen", "\\seen", "\\Deleted", "\\Flagged", "\\Answered", "work", "Work",
             "$Label1"]

# -- the model ---------------------------------------------------------------------------------


def norm(flags: Any) -> tuple[str, ...]:
    out: dict[str, str] = {}
    for f in flags:
        out.setdefault(f.lower(), SYSTEM.get(f.lower(), f))
    return tuple(sorted(out.values()))


def apply_mode(current: tuple[str, ...], mode: str, wanted: tuple[str, ...]) -> tuple[str, ...]:
    if mode == "set":
        return wanted
    if mode == "add":
        return norm(current + wanted)
    drop = {w.lower() for w in wanted}
    return tuple(f for f in current if f.lower() not in drop)


@dataclass
class Model:
    uidnext: int = 1
    highestmodseq: int = 0
    msgs: dict[int, list[Any]] = field(default_factory=dict)  # uid -> [flags, size, date, ms]
    vanished: list[int] = field(default_factory=list)

    def append(self, flags: Any, size: int, date: int) -> int:
        uid = self.uidnext
        self.uidnext += 1
        self.highestmodseq += 1
        self.msgs[uid] = [norm(flags), size, date, self.highestmodseq]
        return uid

    def store(self, uids: list[int], mode: str, flags: Any,
              since: int | None) -> tuple[int, list[int], list[int]]:
        wanted = norm(flags)
        present = [u for u in sorted(set(uids)) if u in self.msgs]
        failed = [u for u in present if since is not None and self.msgs[u][3] > since]
        changed = [u for u in present if u not in failed
                   and apply_mode(self.msgs[u][0], mode, wanted) != self.msgs[u][0]]
        if not changed:
            return 0, [], failed
        self.highestmodseq += 1
        for u in changed:
            self.msgs[u][0] = apply_mode(self.msgs[u][0], mode, wanted)
            self.msgs[u][3] = self.highestmodseq
        return self.highestmodseq, changed, failed

    def expunge(self, uids: list[int] | None) -> list[int]:
        if uids is None:
            uids = [u for u, m in self.msgs.items() if "\\Deleted" in m[0]]
        gone = [u for u in sorted(set(uids)) if u in self.msgs]
        if gone:
            self.highestmodseq += 1
            for u in gone:
                del self.msgs[u]
            self.vanished.extend(gone)
        return gone

    def copy(self, uids: list[int], dest: Model) -> list[tuple[int, int]]:
        present = [u for u in sorted(set(uids)) if u in self.msgs]
        return [(u, dest.append(self.msgs[u][0], self.msgs[u][1], self.msgs[u][2]))
                for u in present]

    def view(self) -> dict[str, Any]:
        recs = [(u, m[0], m[1], m[2], m[3]) for u, m in sorted(self.msgs.items())]
        return {"records": recs, "uidnext": self.uidnext, "highestmodseq": self.highestmodseq,
                "count": len(recs), "unseen": sum("\\Seen" not in r[1] for r in recs),
                "bytes": sum(r[2] for r in recs), "vanished": sorted(self.vanished)}


def view(folder: Folder) -> dict[str, Any]:
    """The live or reopened folder in the model's terms."""
    st_ = folder.status()
    idx = folder.index()
    recs = [(r.uid, r.flags, r.size, r.internaldate, r.modseq)
            for r in (idx.record_at(i) for i in range(len(idx)))]
    return {"records": recs, "uidnext": st_.uidnext, "highestmodseq": st_.highestmodseq,
            "count": st_.count, "unseen": st_.unseen, "bytes": st_.bytes,
            "vanished": idx.vanished_since(0)}


def raw_message(size: int) -> bytes:
    head = b"Subject: s\r\n\r\n"
    return head + b"x" * max(0, size - len(head)) if size >= len(head) else b"y" * size


# -- the store ---------------------------------------------------------------------------------


@contextmanager
def fresh_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "mailstore"
        (root / "domains" / DOMAIN / "users" / USER).mkdir(parents=True)
        mb = MailStore(root).mailbox(DOMAIN, USER)
        mb.init_defaults()
        mb.create_folder("Other")
        try:
            yield root
        finally:
            REAPER.flush()


def mailbox(root: Path, *, verify_tail: bool = True) -> UserMailbox:
    return MailStore(root, verify_tail=verify_tail).mailbox(DOMAIN, USER)


# -- strategies --------------------------------------------------------------------------------

flags_st = st.lists(st.sampled_from(FLAG_POOL), max_size=3)
uids_st = st.lists(st.integers(1, 24), max_size=6)
folder_st = st.integers(0, 1)
size_st = st.integers(0, 60)
date_st = st.integers(0, 2**33)

op_st = st.one_of(
    st.tuples(st.just("append"), folder_st, flags_st, size_st, date_st),
    st.tuples(st.just("append_many"), folder_st,
              st.lists(st.tuples(flags_st, size_st, date_st), min_size=1, max_size=4)),
    st.tuples(st.just("flags"), folder_st, uids_st, st.sampled_from(["add", "remove", "set"]),
              flags_st, st.none() | st.integers(0, 40)),
    st.tuples(st.just("expunge"), folder_st, uids_st),
    st.tuples(st.just("expunge_deleted"), folder_st),
    st.tuples(st.just("copy"), folder_st, uids_st),
    st.tuples(st.just("move"), folder_st, uids_st),
    st.tuples(st.just("compact"), folder_st),
    st.tuples(st.just("observe"), folder_st),
)


def run_op(op: tuple[Any, ...], live: list[Folder], models: list[Model]) -> None:
    """Perform `op` on the store and the model and check their answers agree."""
    kind, i = op[0], op[1]
    folder, model = live[i], models[i]
    other, other_model = live[1 - i], models[1 - i]
    if kind == "append":
        _, _, flags, size, date = op
        res = folder.append(raw_message(size), flags, date)
        assert res.uid == model.append(flags, size, date)
        assert res.modseq == model.highestmodseq
    elif kind == "append_many":
        batch = op[2]
        res = folder.append_many([(raw_message(s), f, d) for f, s, d in batch])
        assert [r.uid for r in res] == [model.append(f, s, d) for f, s, d in batch]
    elif kind == "flags":
        _, _, uids, mode, flags, since = op
        res = folder.store_flags(uids, mode, flags, unchanged_since=since)
        assert (res.modseq, res.changed, res.failed) == model.store(uids, mode, flags, since)
    elif kind == "expunge":
        assert folder.expunge(op[2]) == model.expunge(op[2])
    elif kind == "expunge_deleted":
        assert folder.expunge() == model.expunge(None)
    elif kind == "copy":
        assert folder.copy(op[2], other) == model.copy(op[2], other_model)
    elif kind == "move":
        pairs = model.copy(op[2], other_model)
        model.expunge([src for src, _ in pairs])
        assert folder.move(op[2], other) == pairs
    elif kind == "compact":
        folder.compact()
    assert view(folder) == model.view()
    assert view(other) == other_model.view()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op_st, min_size=1, max_size=30))
def test_replay_equals_live_and_model(ops: list[tuple[Any, ...]]) -> None:
    with fresh_root() as root:
        mb = mailbox(root)
        live = [mb.folder(name) for name in FOLDERS]
        observer = mailbox(root)  # a long-lived second reader, refreshed incrementally
        models = [Model(), Model()]
        for op in ops:
            if op[0] == "observe":
                assert view(observer.folder(FOLDERS[op[1]])) == models[op[1]].view()
                continue
            run_op(op, live, models)
        fresh = mailbox(root)
        for name, folder, model in zip(FOLDERS, live, models, strict=True):
            assert view(fresh.folder(name)) == view(folder) == model.view()
            assert view(observer.folder(name)) == model.view()
            assert fresh.folder(name).uidvalidity == folder.uidvalidity
            data = folder.layout.journal.read_bytes()
            assert parse_journal(data)[1] == len(data)  # no torn or garbled line


# -- truncation ------------------------------------------------------------------------------

single_line_op_st = st.one_of(
    st.tuples(st.just("append"), st.just(0), flags_st, size_st, date_st),
    st.tuples(st.just("flags"), st.just(0), uids_st, st.sampled_from(["add", "remove", "set"]),
              flags_st, st.none() | st.integers(0, 40)),
    st.tuples(st.just("expunge"), st.just(0), uids_st),
    st.tuples(st.just("expunge_deleted"), st.just(0)),
    st.tuples(st.just("compact"), st.just(0)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(single_line_op_st, min_size=1, max_size=25), st.data())
def test_truncated_journal_opens_to_acknowledged_prefix(ops: list[tuple[Any, ...]],
                                                        data: st.DataObject) -> None:
    """Each of these ops writes at most one journal line, so every complete line is the end of
    one acknowledged op: the journal size after an op identifies the state it produced."""
    with fresh_root() as root:
        mb = mailbox(root)
        live = [mb.folder(name) for name in FOLDERS]
        models = [Model(), Model()]
        journal = live[0].layout.journal
        acknowledged = [(0, view(live[0]))]  # (journal size, state) since the last compaction
        for op in ops:
            run_op(op, live, models)
            size = journal.stat().st_size
            if size < acknowledged[-1][0] or op[0] == "compact":
                acknowledged = []
            acknowledged.append((size, view(live[0])))
        REAPER.flush()
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "copy"
            shutil.copytree(root, copy)
            copied = mailbox(copy).folder("INBOX")
            full = copied.layout.journal.read_bytes()
            cut = data.draw(st.integers(0, len(full)), label="cut")
            with open(copied.layout.journal, "r+b") as f:
                f.truncate(cut)
            expected = [s for size, s in acknowledged if size <= cut][-1]
            as_read = mailbox(copy, verify_tail=False).folder("INBOX")
            assert view(as_read) == expected
            reopened = mailbox(copy).folder("INBOX")
            # The next write trims the torn tail and lands on a clean line boundary; message
            # files of the lost ops are unacknowledged leftovers and get replaced. A cut below
            # an expunge whose files were already reaped (stronger than any crash: the line
            # was synced before the unlink) leaves entries without files, which the first
            # writer drops.
            present = [r for r in expected["records"]
                       if copied.layout.msg_path(r[0]).exists()]
            res = reopened.append(b"after the crash", ["\\Flagged"], 7)
            assert res.uid >= expected["uidnext"]
            after = view(reopened)
            assert [r for r in after["records"] if r[0] < expected["uidnext"]] == present
            assert after["records"][-1] == (res.uid, ("\\Flagged",), 15, 7, res.modseq)
            assert view(mailbox(copy).folder("INBOX")) == after
            assert reopened.read_message(res.uid) == b"after the crash"
            journal_data = reopened.layout.journal.read_bytes()
            assert parse_journal(journal_data)[1] == len(journal_data)
