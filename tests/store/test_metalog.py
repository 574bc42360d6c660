"""The folder meta log (rmail.store.metalog): one append-only file per folder holding every
message's parse, written at delivery, followed by other processes, safe against torn appends,
rewritten after expunges, started again for another UIDVALIDITY; stores from before it (one
meta file per message) still read."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import orjson
import pytest

from rmail.store import metalog
from rmail.store.errors import NotFound
from rmail.store.mailbox import REAPER, Folder, MailStore
from rmail.store.metalog import MetaLog, header_line
from tests.store.conftest import DOMAIN, USER, message, reopen


def _log_uids(folder: Folder) -> list[int]:
    lines = folder.layout.meta_log.read_bytes().splitlines()
    assert orjson.loads(lines[0])["version"] == metalog.FORMAT_VERSION
    return [int(line.split(b" ", 1)[0]) for line in lines[1:]]


def test_round_trip_one_file_per_folder(mail_root: Path, inbox: Folder) -> None:
    inbox.append_many([(message(i), (), None) for i in range(1, 4)])
    inbox.append(message(4))
    assert _log_uids(inbox) == [1, 2, 3, 4]
    assert not (inbox.layout.dir / "meta").exists()  # no file per message any more
    assert orjson.loads(inbox.layout.meta_log.read_bytes().splitlines()[0])["uidvalidity"] \
        == inbox.uidvalidity
    other = reopen(mail_root, inbox)  # another process: reads the log, parses nothing
    assert [other.meta(u)["summary"]["subject"] for u in (1, 2, 3, 4)] == [
        f"message {i}" for i in (1, 2, 3, 4)]
    assert other.meta(2) == inbox.meta(2)
    inbox.append(message(5))  # the other process follows appends by offset
    assert other.meta(5)["summary"]["subject"] == "message 5"
    assert _log_uids(inbox) == [1, 2, 3, 4, 5]  # nothing rebuilt, nothing appended twice


def test_torn_last_line_is_ignored_then_cut(mail_root: Path, inbox: Folder) -> None:
    inbox.append_many([(message(i), (), None) for i in range(1, 3)])
    log = inbox.layout.meta_log
    good = log.read_bytes()
    with open(log, "ab") as f:  # a crash in the middle of appending UID 3's record
        f.write(b'3 {"envelope":[TORN')
    other = reopen(mail_root, inbox)
    assert other.meta(2)["summary"]["subject"] == "message 2"
    assert other.metas.get(3, other.uidvalidity) is None
    inbox.append(message(3))  # the next writer cuts the torn tail off and appends after it
    data = log.read_bytes()
    assert data.startswith(good) and b"TORN" not in data
    assert _log_uids(inbox) == [1, 2, 3]
    assert other.meta(3)["summary"]["subject"] == "message 3"


def test_record_bytes_at_a_remembered_offset_are_checked(mail_root: Path,
                                                         inbox: Folder) -> None:
    inbox.append_many([(message(i), (), None) for i in range(1, 4)])
    reader = reopen(mail_root, inbox)
    assert reader.meta(2)["summary"]["subject"] == "message 2"  # map loaded
    log = inbox.layout.meta_log
    data = bytearray(log.read_bytes())
    start = data.index(b"\n2 {") + 1
    data[start:start + 2] = b"7 "  # UID 2's record now claims another UID
    with open(log, "r+b") as f:  # in place: same inode, same size
        f.write(bytes(data))
    assert reader.meta(2)["summary"]["subject"] == "message 2"  # rebuilt from the message
    assert _log_uids(inbox)[-1] == 2  # and appended again


def _deliver(root: str, count: int) -> None:
    folder = MailStore(root).mailbox(DOMAIN, USER).folder("INBOX")
    for i in range(1, count + 1):
        folder.append(message(i, b"from the child " * 20))


def test_other_process_appends_while_this_one_reads(mail_root: Path, inbox: Folder) -> None:
    inbox.append(message(0))
    inbox.meta(1)  # this process's map is loaded and held open
    count = 60
    child = multiprocessing.get_context("fork").Process(target=_deliver,
                                                        args=(str(mail_root), count))
    child.start()
    seen: set[int] = set()
    try:
        while child.is_alive() or len(seen) < count + 1:
            for uid in inbox.uids():
                if uid not in seen:  # a UID in the index has its record already
                    want = "message 0" if uid == 1 else f"message {uid - 1}"
                    assert inbox.meta(uid)["summary"]["subject"] == want
                    seen.add(uid)
            if not child.is_alive() and len(seen) < count + 1 and len(inbox.uids()) == len(seen):
                break
    finally:
        child.join(30)
    assert child.exitcode == 0
    assert seen == set(range(1, count + 2))
    assert _log_uids(inbox) == list(range(1, count + 2))  # read, never rebuilt


def test_rewrite_after_expunges_with_a_reader_on_the_old_file(
        mail_root: Path, inbox: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metalog, "MIN_GARBAGE", 0)  # the size floor, so 30 messages suffice
    inbox.append_many([(message(i), (), None) for i in range(1, 31)])
    reader = reopen(mail_root, inbox)
    assert reader.meta(30)["summary"]["subject"] == "message 30"  # holds the old file open
    old_ino = os.stat(inbox.layout.meta_log).st_ino
    inbox.expunge(range(1, 11))  # 20 of 30 live: no rewrite yet
    assert os.stat(inbox.layout.meta_log).st_ino == old_ino
    inbox.expunge(range(11, 26))  # 5 of 30 live: the garbage outweighs them
    assert os.stat(inbox.layout.meta_log).st_ino != old_ino
    assert _log_uids(inbox) == [26, 27, 28, 29, 30]
    assert reader.meta(27)["summary"]["subject"] == "message 27"
    inbox.append(message(31))  # appended to the new file; the reader notices the inode
    assert reader.meta(31)["summary"]["subject"] == "message 31"
    assert inbox.meta(26)["summary"]["subject"] == "message 26"
    assert _log_uids(inbox) == [26, 27, 28, 29, 30, 31]


def test_rewrite_waits_for_the_minimum_of_garbage(inbox: Folder) -> None:
    inbox.append_many([(message(i), (), None) for i in range(1, 21)])
    ino = os.stat(inbox.layout.meta_log).st_ino
    inbox.expunge(range(1, 20))
    assert os.stat(inbox.layout.meta_log).st_ino == ino  # a few KB: not worth a rewrite
    assert inbox.meta(20)["summary"]["subject"] == "message 20"
    with pytest.raises(NotFound):  # its record is still in the log, but the message is gone
        inbox.meta(3)


def test_uidvalidity_change_starts_the_log_again(tmp_path: Path) -> None:
    log = MetaLog(tmp_path / "meta.log")
    log.append_locked([(1, b'{"a":1}'), (2, b'{"a":2}')], 7)
    assert log.get(2, 7) == b'{"a":2}'
    assert log.get(2, 8) is None  # records of another UIDVALIDITY are not this folder's
    reader = MetaLog(tmp_path / "meta.log")
    assert reader.get(1, 7) == b'{"a":1}'
    log.append_locked([(1, b'{"b":1}')], 8)  # started again: the old records are gone
    data = (tmp_path / "meta.log").read_bytes()
    assert data == header_line(8) + b'1 {"b":1}\n'
    assert reader.get(1, 8) == b'{"b":1}' and reader.get(2, 8) is None
    assert reader.get(1, 7) is None


def test_records_out_of_uid_order_and_duplicates(tmp_path: Path) -> None:
    log = MetaLog(tmp_path / "meta.log")
    log.append_locked([(5, b'{"v":5}'), (9, b'{"v":9}')], 1)
    log.append_locked([(3, b'{"v":3}'), (5, b'{"v":"again"}'), (12, None)], 1)
    reader = MetaLog(tmp_path / "meta.log")
    assert [reader.get(u, 1) for u in (3, 5, 9, 12)] == [b'{"v":3}', b'{"v":"again"}',
                                                         b'{"v":9}', None]
    assert log.get(5, 1) == b'{"v":"again"}'


def test_old_style_meta_files_still_work(mail_root: Path, mailbox, inbox: Folder) -> None:
    """A folder as stores before the meta log wrote it: one meta file per message."""
    inbox.append_many([(message(i), (), None) for i in range(1, 5)])
    for uid in range(1, 5):
        old = inbox.layout.meta_path(uid)
        old.parent.mkdir(parents=True, exist_ok=True)
        doc = inbox.meta(uid)
        doc["summary"]["subject"] = f"old file {uid}"  # tells the old file's answer apart
        old.write_bytes(orjson.dumps(doc))
    inbox.layout.meta_log.unlink()
    folder = reopen(mail_root, inbox)
    assert folder.meta(2)["summary"]["subject"] == "old file 2"
    inbox.layout.meta_path(3).unlink()  # neither a record nor a file: rebuilt into the log
    assert folder.meta(3)["summary"]["subject"] == "message 3"
    assert _log_uids(folder) == [3]
    archive = folder.owner.folder("Archive")
    pairs = folder.copy([1], archive)
    assert archive.meta(pairs[0][1])["summary"]["subject"] == "old file 1"  # bytes reused
    folder.expunge([1, 2])
    REAPER.flush()
    assert not inbox.layout.meta_path(1).exists() and not inbox.layout.meta_path(2).exists()
    assert inbox.layout.meta_path(4).exists()


def test_copy_and_move_keep_meta(mail_root: Path, mailbox, inbox: Folder) -> None:
    inbox.append_many([(message(i), (), None) for i in range(1, 4)])
    archive = mailbox.folder("Archive")
    pairs = inbox.copy([1, 2], archive)
    moved = inbox.move([3], archive)
    recorded = {u: inbox.metas.get(u, inbox.uidvalidity) for u in (1, 2)}
    for src, dst in pairs:
        assert archive.metas.get(dst, archive.uidvalidity) == recorded[src]  # the same bytes
    dst3 = moved[0][1]
    assert reopen(mail_root, archive).meta(dst3)["summary"]["subject"] == "message 3"
    assert _log_uids(archive) == [dst for _, dst in pairs] + [dst3]


def test_deleted_folder_takes_its_log(mailbox) -> None:
    folder = mailbox.create_folder("Gone")
    folder.append(message(1))
    assert folder.meta(1)["summary"]["subject"] == "message 1"
    log = folder.layout.meta_log
    mailbox.delete_folder("Gone")
    assert not log.exists() and not folder.layout.dir.exists()
    again = mailbox.create_folder("Gone")
    again.append(message(2))
    assert again.meta(1)["summary"]["subject"] == "message 2"
