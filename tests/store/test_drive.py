"""The drive store: paths, totals on every kind of write, crash recovery, symlinks, quota."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest

from rmail.store.accounts import Accounts
from rmail.store.drive import (
    MAX_DEPTH,
    DrivePath,
    DriveStore,
    Quota,
    Rules,
    UserDrive,
    check_name,
)
from rmail.store.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    PreconditionFailed,
    QuotaExceeded,
    UnsafeName,
)

P = DrivePath.parse


@pytest.fixture
def drive(tmp_path: Path) -> UserDrive:
    root = tmp_path / "mailstore"
    Accounts(root).create("example.com", "alice", "not-a-real-hash")
    return DriveStore(root).drive("example.com", "alice")


def totals(d: UserDrive, path: str = "") -> tuple[int, int, int]:
    c = d.counters(P(path))
    return c["total_files"], c["total_dirs"], c["total_bytes"]


def walk_totals(d: UserDrive, path: str = "") -> tuple[int, int, int]:
    """Totals the slow way, from the listings, to compare with the O(1) counters."""
    files = dirs = size = 0
    for e in list(d.walk(P(path), None))[1:]:
        if e.is_dir:
            dirs += 1
        else:
            files += 1
            size += e.size
    return files, dirs, size


# -- names -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["..", ".", "a..b", "a/b", "a\\b", "a\x00b", "a\x1fb", "a\x7f",
                                 "_index.json", "_meta.json", "_share", "x.tmp", "",
                                 "é" * 128])
def test_name_gate_refuses(bad: str) -> None:
    with pytest.raises(UnsafeName):
        check_name(bad)


def test_name_gate_accepts_ordinary_names() -> None:
    for good in ("readme.txt", "Q3 Budget.xlsx", "trip (1).jpg", "Ünïcödé €", "a" * 255,
                 ".hidden", "x.tmpl"):
        assert check_name(good) == good


def test_paths() -> None:
    assert P("") == DrivePath() and P("docs/").parts == ("docs",)
    assert P("a/b/c").parent == P("a/b") and P("a/b").child("c") == P("a/b/c")
    for bad in ("/etc/passwd", "a//b", "a/../b", "../x"):
        with pytest.raises(UnsafeName):
            P(bad)
    P("/".join(["d"] * MAX_DEPTH))
    with pytest.raises(UnsafeName):
        P("/".join(["d"] * (MAX_DEPTH + 1)))


# -- writes and totals -------------------------------------------------------------------------
def test_put_streams_from_iterators_and_files(drive: UserDrive) -> None:
    e1, created = drive.put(P("a/b/one.bin"), iter([b"x" * 1000, b"y" * 24]))
    assert created and e1.size == 1024 and len(e1.etag) == 34
    e2, created = drive.put(P("two.bin"), io.BytesIO(b"z" * 5000))
    assert created and e2.size == 5000
    e3, created = drive.put(P("two.bin"), b"short")
    assert not created and e3.etag != e2.etag and e3.created == e2.created
    assert totals(drive) == (2, 2, 1029) == walk_totals(drive)
    assert totals(drive, "a") == (1, 1, 1024)
    _, f = drive.open_file(P("two.bin"))
    with f:
        assert f.read() == b"short"
    meta = drive.meta()
    assert meta["total_bytes"] == 1029 and meta["pending"] == [] and meta["ctag"] >= 3


def test_same_content_same_etag(drive: UserDrive) -> None:
    a, _ = drive.put(P("a"), b"same")
    b, _ = drive.put(P("b"), b"same")
    assert a.etag == b.etag == '"' + hashlib.sha256(b"same").hexdigest()[:32] + '"'


def test_mkdir_rules(drive: UserDrive) -> None:
    with pytest.raises(Conflict):
        drive.mkdir(P("x/y"))
    drive.mkdir(P("x/y"), parents=True)
    with pytest.raises(AlreadyExists):
        drive.mkdir(P("x/y"))
    assert drive.mkdir(P("x/y"), exist_ok=True)[0].is_dir
    drive.put(P("f"), b"1")
    with pytest.raises(AlreadyExists):
        drive.mkdir(P("f"), exist_ok=True)
    with pytest.raises(Conflict):
        drive.put(P("f/g"), b"1")
    assert totals(drive) == (1, 2, 1) == walk_totals(drive)


def test_delete_move_copy_keep_totals_exact(drive: UserDrive) -> None:
    for i in range(5):
        drive.put(P(f"src/sub{i % 2}/f{i}"), b"x" * (i + 1))
    drive.set_props(P("src/sub0"), {"{urn:x}color": '<ns0:color xmlns:ns0="urn:x">red</ns0:color>'})
    assert totals(drive) == (5, 3, 15) == walk_totals(drive)
    assert drive.copy(P("src"), P("dup"))
    assert totals(drive) == (10, 6, 30) == walk_totals(drive)
    assert drive.stat(P("dup/sub0")).props == drive.stat(P("src/sub0")).props
    assert drive.move(P("dup"), P("src/moved"))
    assert totals(drive, "src") == (10, 5, 30) == walk_totals(drive, "src")
    with pytest.raises(PreconditionFailed):
        drive.move(P("src/sub0"), P("src/sub1"), overwrite=False)
    assert not drive.move(P("src/sub0"), P("src/sub1"))
    assert totals(drive) == (8, 5, 24) == walk_totals(drive)
    drive.delete(P("src/moved"))
    assert totals(drive) == (3, 2, 9) == walk_totals(drive)
    with pytest.raises(Conflict):
        drive.move(P("src"), P("src/sub1/inside"))
    with pytest.raises(Conflict):
        drive.delete(DrivePath())
    assert not os.listdir(drive.layout.tmp)


def test_preconditions(drive: UserDrive) -> None:
    e, _ = drive.put(P("f"), b"1")
    with pytest.raises(PreconditionFailed):
        drive.put(P("f"), b"2", rules=Rules(if_none_match=True))
    with pytest.raises(PreconditionFailed):
        drive.put(P("f"), b"2", rules=Rules(if_match=('"nope"',)))
    drive.put(P("f"), b"2", rules=Rules(if_match=(e.etag,)))
    with pytest.raises(PreconditionFailed):
        drive.put(P("new"), b"2", rules=Rules(if_match=("*",)))


def test_quota_counts_other_usage_and_leaves_nothing(drive: UserDrive) -> None:
    drive.put(P("a"), b"x" * 60, rules=Rules(quota=Quota(100, 30)))
    with pytest.raises(QuotaExceeded):
        drive.put(P("b"), iter([b"x" * 5, b"x" * 10]), rules=Rules(quota=Quota(100, 30)))
    # overwriting reclaims the old size
    drive.put(P("a"), b"y" * 70, rules=Rules(quota=Quota(100, 30)))
    assert totals(drive) == (1, 0, 70) and not drive.exists(P("b"))
    assert not os.listdir(drive.layout.tmp)
    with pytest.raises(QuotaExceeded):
        drive.copy(P("a"), P("c"), rules=Rules(quota=Quota(100, 30)))
    assert totals(drive) == (1, 0, 70)


def test_props_on_root_and_entries(drive: UserDrive) -> None:
    drive.put(P("f"), b"1")
    drive.set_props(DrivePath(), {"{urn:x}a": "<a/>"})
    drive.set_props(P("f"), {"{urn:x}b": "<b/>"})
    drive.put(P("f"), b"2")  # an overwrite keeps dead properties
    assert drive.stat(DrivePath()).props == {"{urn:x}a": "<a/>"}
    assert drive.stat(P("f")).props == {"{urn:x}b": "<b/>"}
    drive.set_props(P("f"), {}, remove=["{urn:x}b"])
    assert drive.stat(P("f")).props == {}


# -- crash recovery ----------------------------------------------------------------------------
def test_recovery_after_a_writer_died_mid_commit(drive: UserDrive, tmp_path: Path) -> None:
    drive.put(P("docs/a"), b"aaaa")
    # Simulate a writer killed after renaming a file in and before the indexes were written.
    (drive.layout.files / "docs" / "orphan").write_bytes(b"12345")
    meta = json.loads(drive.layout.meta.read_text())
    meta["pending"] = ["docs"]
    drive.layout.meta.write_text(json.dumps(meta))
    # ... and one killed mid-upload: its staged bytes must vanish.
    stale = drive.layout.tmp / "upload.999999999.deadbeef"
    stale.write_bytes(b"partial")
    fresh = DriveStore(drive.layout.dir.parent.parent.parent.parent.parent).drive(
        "example.com", "alice")
    assert fresh.meta()["pending"] == []
    assert fresh.stat(P("docs/orphan")).size == 5
    assert totals(fresh) == (2, 1, 9) == walk_totals(fresh)
    assert not stale.exists()


def test_repair_adopts_files_copied_in_by_hand(drive: UserDrive) -> None:
    drive.put(P("a"), b"1")
    (drive.layout.files / "hand").mkdir()
    (drive.layout.files / "hand" / "made.txt").write_bytes(b"abc")
    drive.repair()
    assert drive.stat(P("hand/made.txt")).content_type == "text/plain"
    assert totals(drive) == (2, 1, 4) == walk_totals(drive)


def test_planted_symlinks_are_never_followed(drive: UserDrive, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "passwd").write_bytes(b"root:x:0:0")
    (secret / "_index.json").write_text(json.dumps({"version": 1, "children": {
        "passwd": {"type": "file", "size": 10, "mtime": 0, "etag": '"x"'}}}))
    drive.put(P("docs/real"), b"1")
    files = drive.layout.files
    os.symlink(secret, files / "docs" / "link")
    os.symlink(secret / "passwd", files / "docs" / "pw")
    # even when an index is forged to list them
    idx = json.loads((files / "docs" / "_index.json").read_text())
    idx["children"]["link"] = {"type": "dir", "mtime": 0}
    idx["children"]["pw"] = {"type": "file", "size": 10, "etag": '"x"',
                             "mtime": (secret / "passwd").stat().st_mtime}
    (files / "docs" / "_index.json").write_text(json.dumps(idx))
    with pytest.raises(NotFound):
        drive.listdir(P("docs/link"))
    with pytest.raises(NotFound):
        drive.open_file(P("docs/pw"))
    with pytest.raises(NotFound):
        drive.open_file(P("docs/link/passwd"))
    drive.repair()  # and repair never adopts them
    assert {e.name for e in drive.listdir(P("docs")).children} == {"real"}
