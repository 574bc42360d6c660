"""Every drive write is one store call that checks lock tokens, share rights, preconditions and
quota under the drive lock: what changes between an early check and the commit is caught."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rmail.store.accounts import Accounts
from rmail.store.drive import (
    DrivePath,
    DriveStore,
    IsDirectory,
    LockConflict,
    Locked,
    Quota,
    Rules,
    UserDrive,
    WriteRefused,
)
from rmail.store.errors import Conflict, NotFound, PreconditionFailed, QuotaExceeded

P = DrivePath.parse


@pytest.fixture
def store(tmp_path: Path) -> DriveStore:
    root = tmp_path / "mailstore"
    Accounts(root).create("example.com", "alice", "not-a-real-hash")
    Accounts(root).create("example.com", "bob", "not-a-real-hash")
    return DriveStore(root)


@pytest.fixture
def drive(store: DriveStore) -> UserDrive:
    return store.drive("example.com", "alice")


def staged(drive: UserDrive) -> list[str]:
    return [n for n in os.listdir(drive.layout.tmp) if n.startswith("upload.")]


def test_lock_granted_after_the_early_check_stops_the_commit(drive: UserDrive) -> None:
    drive.put(P("doc.txt"), b"v1")
    upload = drive.begin_write(P("doc.txt"))  # the early check passes: no lock yet
    upload.write(b"v2")
    lock, created = drive.lock(P("doc.txt"), scope="exclusive", depth="0")
    assert not created
    with pytest.raises(Locked):
        drive.write(P("doc.txt"), upload)
    assert not staged(drive)
    _, f = drive.open_file(P("doc.txt"))
    with f:
        assert f.read() == b"v1"
    drive.put(P("doc.txt"), b"v3", rules=Rules(tokens=frozenset({lock.token})))


def test_locks_on_parents_members_and_recursive_operations(drive: UserDrive) -> None:
    drive.put(P("dir/inner.txt"), b"in")
    drive.put(P("other.txt"), b"o")
    lock, _ = drive.lock(P("dir"), scope="exclusive", depth="infinity")
    token = Rules(tokens=frozenset({lock.token}))
    with pytest.raises(Locked):
        drive.put(P("dir/new.txt"), b"n")
    with pytest.raises(Locked):
        drive.mkdir(P("dir/sub"))
    with pytest.raises(Locked):
        drive.move(P("other.txt"), P("dir/other.txt"))
    with pytest.raises(Locked):
        drive.copy(P("other.txt"), P("dir/copy.txt"))
    with pytest.raises(Locked):
        drive.set_props(P("dir/inner.txt"), {"{urn:x}a": "<a/>"})
    with pytest.raises(Locked):
        drive.delete(P("dir"))
    with pytest.raises(LockConflict):
        drive.lock(P("dir/inner.txt"), scope="exclusive", depth="0")
    assert drive.mkdir(P("dir/sub"), rules=token)[1]
    drive.delete(P("dir"), rules=token)  # and the lock goes with what it covered
    assert drive.locks.active() == []


def test_lock_on_an_unmapped_url_creates_the_file_in_the_same_commit(drive: UserDrive) -> None:
    _, created = drive.lock(P("fresh.txt"), scope="shared", depth="infinity")
    assert created
    assert drive.stat(P("fresh.txt")).size == 0
    with pytest.raises(Conflict):
        drive.lock(P("no/parent.txt"), scope="exclusive", depth="0")
    assert [lk.path for lk in drive.locks.active()] == ["fresh.txt"]


def test_share_rights_are_read_live_under_the_lock(store: DriveStore, drive: UserDrive) -> None:
    drive.mkdir(P("pub"))
    drive.put(P("pub/old.txt"), b"o")
    drive.put(P("private.txt"), b"p")
    share = store.shares.create("example.com", "alice", P("pub"), permissions="RC")
    link = Rules(share=share.uid)
    drive.put(P("pub/new.txt"), b"n", rules=link)                      # C creates
    with pytest.raises(WriteRefused):
        drive.put(P("pub/old.txt"), b"x", rules=link)                  # no U
    with pytest.raises(WriteRefused):
        drive.put(P("pub/form.txt"), b"x", rules=link, form_upload=True)  # forms need U
    with pytest.raises(WriteRefused):
        drive.put(P("private.txt"), b"x", rules=link)                  # outside the share
    with pytest.raises(WriteRefused):
        drive.delete(P("pub/new.txt"), rules=link)                     # no D
    with pytest.raises(WriteRefused):
        drive.move(P("pub/new.txt"), P("pub/moved.txt"), rules=link)   # never through links
    # permissions narrowed between the early check and the commit
    upload = drive.begin_write(P("pub/late.txt"), rules=link)
    store.shares.update("example.com", "alice", share.uid, permissions="R")
    with pytest.raises(WriteRefused):
        drive.write(P("pub/late.txt"), upload, rules=link)
    # revoked between the early check and the commit: the link is simply gone
    store.shares.update("example.com", "alice", share.uid, permissions="RCUD")
    upload = drive.begin_write(P("pub/late.txt"), rules=link)
    store.shares.delete("example.com", "alice", share.uid)
    with pytest.raises(NotFound):
        drive.write(P("pub/late.txt"), upload, rules=link)
    assert not drive.exists(P("pub/late.txt")) and not staged(drive)


def test_share_root_cannot_be_deleted_and_other_users_links_do_not_apply(
        store: DriveStore, drive: UserDrive) -> None:
    drive.put(P("pub/a.txt"), b"a")
    share = store.shares.create("example.com", "alice", P("pub"), permissions="RCUD")
    with pytest.raises(WriteRefused):
        drive.delete(P("pub"), rules=Rules(share=share.uid))
    drive.delete(P("pub/a.txt"), rules=Rules(share=share.uid))
    bob = store.drive("example.com", "bob")
    with pytest.raises(NotFound):
        bob.put(P("x.txt"), b"x", rules=Rules(share=share.uid))


def test_preconditions_and_quota_are_checked_again_at_commit(drive: UserDrive) -> None:
    drive.mkdir(P("d"))
    with pytest.raises(IsDirectory):
        drive.put(P("d"), b"x")
    upload = drive.begin_write(P("new.txt"), rules=Rules(if_none_match=True))
    upload.write(b"mine")
    drive.put(P("new.txt"), b"theirs")  # someone else created it meanwhile
    with pytest.raises(PreconditionFailed):
        drive.write(P("new.txt"), upload, rules=Rules(if_none_match=True))
    quota = Rules(quota=Quota(100))
    with pytest.raises(QuotaExceeded):
        drive.begin_write(P("big"), rules=quota, length=101 - drive.usage_bytes() + 1)
    upload = drive.begin_write(P("big"), rules=quota)
    upload.write(b"x" * 80)
    drive.put(P("filler"), b"y" * 20)  # the room went to another write meanwhile
    with pytest.raises(QuotaExceeded):
        drive.write(P("big"), upload, rules=quota)
    assert not drive.exists(P("big")) and not staged(drive)


def test_room_for_a_form_upload_is_judged_by_its_length(drive: UserDrive) -> None:
    drive.put(P("dir/old.bin"), b"o" * 3_000_000)
    quota = Quota(10_000_000)
    with pytest.raises(QuotaExceeded):
        drive.check_room(30_000_000, quota, P("dir"))
    # what it may overwrite below its folder counts as room, and so does the framing
    drive.check_room(7_000_000 + 3_000_000 + 100_000, quota, P("dir"))
    with pytest.raises(QuotaExceeded):
        drive.check_room(7_000_000 + 3_000_000 + 100_000 + 5_000_000, quota, P("other"))


def test_write_many_commits_a_tree_at_once(drive: UserDrive) -> None:
    items = []
    for name, body in (("t/a.txt", b"a"), ("t/x/b.txt", b"bb"), ("t/x/y/c.txt", b"ccc")):
        up = drive.begin_write(P(name), form_upload=True)
        up.write(body)
        items.append((P(name), up, None))
    before = drive.meta()["ctag"]
    out = drive.write_many(items)
    assert [(e.name, created) for e, created in out] == [("a.txt", True), ("b.txt", True),
                                                         ("c.txt", True)]
    assert drive.meta()["ctag"] == before + 1  # one commit
    assert drive.counters(P("t"))["total_files"] == 3 and not staged(drive)
