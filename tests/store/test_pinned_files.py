"""A writer keeps its folder's snapshot and journal open between group commits, and each staged
message's descriptor from staging to its sync (`Folder._pin`, `groupcommit.stage`). Held
descriptors must never let an append reach a journal that a compaction by another process has
replaced (the mail would be lost), and must stay bounded."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rmail.store import folder as folder_module
from rmail.store import groupcommit
from rmail.store.journal import parse_journal
from rmail.store.mailbox import Folder, UserMailbox

from .conftest import DOMAIN, USER, message, reopen

REPO = Path(__file__).resolve().parents[2]

OTHER_PROCESS = """
import sys
from rmail.store.mailbox import MailStore
root, domain, user = sys.argv[1:4]
folder = MailStore(root).mailbox(domain, user).folder("INBOX")
folder.append(b"Subject: from the other process\\r\\n\\r\\nother\\r\\n")
folder.compact()  # a new snapshot and a new, empty journal (atomic renames)
"""


def journal_uids(folder: Folder) -> list[int]:
    records, _ = parse_journal(folder.layout.journal.read_bytes())
    return [r["uid"] for r in records if r["op"] == "append"]


def test_append_after_another_process_compacted_goes_to_the_new_journal(
        inbox: Folder, mail_root: Path) -> None:
    inbox.append(message(1))
    assert inbox._pins is not None  # the writer holds the journal it appended to
    old_journal = inbox._pins[3]
    subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(mail_root), DOMAIN, USER],
                   check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert inbox.layout.journal.stat().st_ino != old_journal  # replaced under our pin
    res = inbox.append(message(3))
    assert res.uid == 3  # the other process's UID 2 was seen, not reused
    assert journal_uids(inbox) == [3]  # the line is in the journal at the path
    assert inbox._pins is not None and inbox._pins[3] == inbox.layout.journal.stat().st_ino
    assert reopen(mail_root, inbox).uids() == [1, 2, 3]
    assert reopen(mail_root, inbox).read_message(3) == message(3)


def test_flag_change_after_a_compaction_elsewhere_is_durable_in_the_new_journal(
        inbox: Folder, mail_root: Path) -> None:
    inbox.append(message(1))
    other = reopen(mail_root, inbox)  # another process, as far as the folder knows
    other.append(message(2))
    other.compact()
    inbox.store_flags([2], "add", ["\\Flagged"])
    assert reopen(mail_root, inbox).record(2).flags == ("\\Flagged",)
    records, _ = parse_journal(inbox.layout.journal.read_bytes())
    assert [r["op"] for r in records] == ["flags"]


def test_own_compaction_pins_the_new_files(inbox: Folder, mail_root: Path) -> None:
    inbox.append(message(1))
    inbox.compact()
    assert inbox._pins is not None
    assert inbox._pins[2] == inbox.layout.snapshot.stat().st_ino
    assert inbox._pins[3] == inbox.layout.journal.stat().st_ino
    inbox.append(message(2))
    assert journal_uids(inbox) == [2]
    assert reopen(mail_root, inbox).uids() == [1, 2]


def test_pinned_folders_are_bounded(mailbox: UserMailbox, mail_root: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder_module._PINNED, "limit", 2)
    folders = [mailbox.create_folder(f"F{i}") for i in range(4)]
    for i, folder in enumerate(folders):
        folder.append(message(i))
    pinned = [f for f in folders if f._pins is not None]
    assert len(pinned) == 2 and folders[-1] in pinned
    # an unpinned folder commits as before (generation check) and pins again
    folders[0].append(message(10))
    assert folders[0]._pins is not None
    assert reopen(mail_root, folders[0]).uids() == [1, 2]


def open_descriptors() -> int:
    """Descriptors of this process, after collecting garbage: folders of earlier tests close
    their pinned files when collected, which must not count as this test's change."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_staged_descriptors_are_closed_once_committed(inbox: Folder, mail_root: Path) -> None:
    inbox.append(message(0))  # pins the folder's two files
    before = open_descriptors()
    for i in range(1, 20):
        inbox.append_many([(message(i), (), None), (message(100 + i), (), None)])
    assert open_descriptors() == before
    assert len(reopen(mail_root, inbox).uids()) == 39


def test_staging_past_the_descriptor_limit_syncs_by_path(
        inbox: Folder, mail_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setattr(groupcommit, "_open_slots", threading.BoundedSemaphore(1))
    results = inbox.append_many([(message(i), (), None) for i in range(5)])
    assert [r.uid for r in results] == [1, 2, 3, 4, 5]
    assert groupcommit._open_slots.acquire(blocking=False)  # the one slot was given back
    assert [reopen(mail_root, inbox).read_message(u) for u in range(1, 6)] == \
        [message(i) for i in range(5)]


def test_a_failed_commit_closes_and_removes_its_staged_files(
        inbox: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox.append(message(0))
    before = open_descriptors()

    def broken(batch: list[groupcommit.Pending]) -> groupcommit.Wave:
        raise OSError("disk on fire")

    monkeypatch.setattr(inbox._committer, "_place_batch", broken)
    with pytest.raises(OSError, match="disk on fire"):
        inbox.append_many([(message(1), (), None), (message(2), (), None)])
    assert open_descriptors() == before
    staging = Path(inbox.owner.staging_s)
    assert not list(staging.glob("*.eml"))


def test_header_cache_rewritten_elsewhere_gets_the_next_records(
        inbox: Folder, mail_root: Path) -> None:
    inbox.append(message(1))
    assert inbox.headers._fd >= 0  # held between deliveries while the folder is pinned
    held = inbox.headers._fd_ino
    path = Path(inbox.headers.path)
    # another process rewrites the cache (what `HeaderCache.compact` does): a new file
    from rmail.store import fsutil

    first, rest = path.read_bytes().split(b"\n", 1)
    fsutil.atomic_write(path, first + b"\n" + rest, durable=False)
    assert path.stat().st_ino != held
    inbox.append(message(2))
    lines = path.read_bytes().splitlines()
    assert [json.loads(line)[0] for line in lines[1:]] == [1, 2]
    fresh = reopen(mail_root, inbox)
    assert [r is not None for r in fresh.header_records([1, 2])] == [True, True]


def test_unpinned_folder_closes_its_header_cache(mailbox: UserMailbox,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder_module._PINNED, "limit", 1)
    a, b = mailbox.create_folder("A"), mailbox.create_folder("B")
    a.append(message(1))
    b.append(message(2))  # pins B, lets go of A
    assert a._pins is None and a.headers._fd == -1
    assert b._pins is not None and b.headers._fd >= 0


def test_a_folder_collected_while_the_pin_registry_is_locked_lets_go_without_waiting(
        inbox: Folder) -> None:
    """A garbage collection can run a Folder's `__del__` inside `_PinnedFolders.add`, on the
    thread that holds the registry's lock (a hang seen in the suite): `__del__` must close
    the folder's descriptors without taking that lock."""
    import threading

    inbox.append(message(1))
    pins = inbox._pins
    assert pins is not None
    finished = threading.Event()

    def collect_inside_the_registry() -> None:
        with folder_module._PINNED._lock:  # as `add` holds it when a collection runs
            inbox.__del__()
        finished.set()

    worker = threading.Thread(target=collect_inside_the_registry, daemon=True)
    worker.start()
    worker.join(30)
    assert finished.is_set(), "Folder.__del__ waited for the pin registry's lock"
    assert inbox._pins is None
    with pytest.raises(OSError):
        os.fstat(pins[1])  # the journal descriptor is closed
