"""`rmail check`: each kind of damage a crash or a hand edit leaves, found and repaired."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rmail.store.accounts import Accounts
from rmail.store.check import check_store
from rmail.store.mailbox import REAPER, Folder, MailStore


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    Accounts(tmp_path).create("example.com", "bob", "x")
    f = MailStore(tmp_path).mailbox("example.com", "bob").folder("INBOX")
    for i in range(5):
        f.append(b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i), ["\\Seen"] if i % 2 else [])
    return f


def reopen(tmp_path: Path) -> Folder:
    return MailStore(tmp_path).mailbox("example.com", "bob").folder("INBOX")


def test_clean_store_has_no_problems(tmp_path: Path, folder: Folder) -> None:
    report = check_store(tmp_path)
    assert report.problems == 0
    assert report.folders == 6 and report.messages == 5


def test_torn_journal_tail_is_trimmed(tmp_path: Path, folder: Folder) -> None:
    with open(folder.layout.journal, "ab") as f:
        f.write(b'{"op":"expunge","modseq":99,"ui')
    report = check_store(tmp_path, repair=False)
    assert report.problems == 1 and report.repaired == 0
    report = check_store(tmp_path)
    assert report.repaired == 1
    assert folder.layout.journal.read_bytes().endswith(b"\n")
    assert reopen(tmp_path).status().count == 5


def test_broken_middle_line_is_dropped_rest_kept(tmp_path: Path, folder: Folder) -> None:
    lines = folder.layout.journal.read_bytes().split(b"\n")
    lines[1] = b"garbage that is not json"
    folder.layout.journal.write_bytes(b"\n".join(lines))
    report = check_store(tmp_path)
    assert any("unreadable line" in line for line in report.lines)
    st = reopen(tmp_path).status()
    assert st.count == 5  # the dropped append's file is re-indexed as an orphan
    assert any("re-indexed" in line for line in report.lines)


def test_unacknowledged_leftover_above_uidnext_is_removed(tmp_path: Path,
                                                          folder: Folder) -> None:
    path = folder.layout.msg_path(6)
    path.write_bytes(b"Subject: half")
    report = check_store(tmp_path)
    assert any("unacknowledged leftover" in line for line in report.lines)
    assert not path.exists()
    assert reopen(tmp_path).uids() == [1, 2, 3, 4, 5]


def test_short_message_file_is_expunged(tmp_path: Path, folder: Folder) -> None:
    folder.layout.msg_path(4).write_bytes(b"Subj")
    report = check_store(tmp_path)
    assert any("missing or short" in line for line in report.lines)
    assert reopen(tmp_path).uids() == [1, 2, 3, 5]


def test_leftover_of_expunge_is_removed(tmp_path: Path, folder: Folder) -> None:
    raw = folder.read_message(2)
    folder.expunge([2])
    REAPER.flush()
    folder.layout.msg_path(2).write_bytes(raw)  # as if the unlink never happened
    report = check_store(tmp_path)
    assert any("expunged UID" in line for line in report.lines)
    assert not folder.layout.msg_path(2).exists()
    assert reopen(tmp_path).uids() == [1, 3, 4, 5]


def test_missing_message_file_is_expunged_from_index(tmp_path: Path, folder: Folder) -> None:
    os.unlink(folder.layout.msg_path(3))
    report = check_store(tmp_path)
    assert any("file is missing" in line for line in report.lines)
    f = reopen(tmp_path)
    assert f.uids() == [1, 2, 4, 5]
    assert 3 in (f.index().vanished_since(0) or [])


def test_old_style_meta_files_orphans_and_unreadable_removed(tmp_path: Path,
                                                              folder: Folder) -> None:
    """A store from before the meta log: per-message meta files, still checked."""
    good = folder.layout.meta_path(2)
    good.parent.mkdir(parents=True)
    good.write_bytes(folder.meta_bytes(2) or b"")
    folder.layout.meta_path(4).write_bytes(b"")  # a torn file of the old kind
    stray = folder.layout.meta_path(77)
    stray.write_bytes(b"{}")
    report = check_store(tmp_path, deep=True)
    assert report.problems == 2 and report.repaired == 2, report.lines
    assert not stray.exists() and not folder.layout.meta_path(4).exists() and good.exists()
    assert reopen(tmp_path).meta(4)["summary"]["subject"] == "m3"
    assert check_store(tmp_path, deep=True).problems == 0


def test_garbled_meta_log_is_found_and_repaired(tmp_path: Path, folder: Folder) -> None:
    log = folder.layout.meta_log
    lines = log.read_bytes().splitlines(keepends=True)
    assert len(lines) == 6 and all(line.startswith(b"%d {" % (i + 1))
                                   for i, line in enumerate(lines[1:]))
    lines[2] = b"\0" * 40 + b"\n"  # UID 2's record: zeros, as a crash can leave
    lines[4] = b"4 {not json" + b"\n"  # UID 4's record garbled behind its uid
    lines.insert(5, b"99 {}\n")  # a record of a UID the folder never had
    log.write_bytes(b"".join(lines) + b"5 {\"tor")  # and a torn last line
    leftover = log.with_name(f".{log.name}.123.456.tmp")  # a rewrite cut short by a crash
    leftover.write_bytes(b"half")
    report = check_store(tmp_path, deep=True)
    text = "\n".join(report.lines)
    for what in ("torn last line", "1 unreadable line", "never had", "unreadable record",
                 "meta of 1 message(s) missing (UIDs 2)"):
        assert what in text, text
    assert report.problems == 3 and report.repaired == 3 and not leftover.exists()
    again = reopen(tmp_path)
    assert [again.meta(u)["summary"]["subject"] for u in range(1, 6)] == [
        "m0", "m1", "m2", "m3", "m4"]
    assert sorted(int(x.split(b" ")[0]) for x in log.read_bytes().splitlines()[1:]) == [
        1, 2, 3, 4, 5]
    assert check_store(tmp_path, deep=True).problems == 0


def test_meta_log_of_another_uidvalidity_is_started_again(tmp_path: Path,
                                                           folder: Folder) -> None:
    log = folder.layout.meta_log
    data = log.read_bytes()
    head = data[:data.index(b"\n")]
    log.write_bytes(head.replace(b'"uidvalidity":', b'"uidvalidity":1') + data[len(head):])
    report = check_store(tmp_path)
    assert any("UIDVALIDITY" in line for line in report.lines), report.lines
    assert reopen(tmp_path).meta(3)["summary"]["subject"] == "m2"
    assert check_store(tmp_path, deep=True).problems == 0


def test_staged_and_deleted_leftovers_removed(tmp_path: Path, folder: Folder) -> None:
    staged = folder.owner.layout.staging_dir / "123.eml"
    staged.write_bytes(b"half")
    trash = folder.owner.layout.dir / ".deleted-9-1"
    trash.mkdir()
    (trash / "x").write_bytes(b"x")
    stray_folder = folder.owner.layout.dir / "42"
    stray_folder.mkdir()
    report = check_store(tmp_path)
    assert report.problems == 3 and report.repaired == 3
    assert not staged.exists() and not trash.exists() and not stray_folder.exists()


def test_missing_folder_index_rebuilt_from_files(tmp_path: Path, folder: Folder) -> None:
    old_validity = folder.uidvalidity
    raw = folder.read_message(5)
    os.unlink(folder.layout.snapshot)
    report = check_store(tmp_path)
    assert any("rebuilt from its message files" in line for line in report.lines)
    again = reopen(tmp_path)
    assert again.uids() == [1, 2, 3, 4, 5]
    assert again.read_message(5) == raw
    assert again.uidvalidity > old_validity
    assert check_store(tmp_path).problems == 0
