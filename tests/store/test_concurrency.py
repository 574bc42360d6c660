"""Two OS processes append to one folder while this process changes flags: the folder lock
keeps every message, every UID unique and the journal free of torn lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rmail.store import folder as folder_module
from rmail.store.journal import normalize_flags, parse_journal
from rmail.store.mailbox import Folder

from .conftest import DOMAIN, USER, reopen, state

REPO = Path(__file__).resolve().parents[2]
PER_WRITER = 200

WRITER = """
import json, sys
from rmail.store import folder, mailbox
folder.COMPACT_MIN_BYTES = 8192  # compact often, so writers also swap snapshots under us
root, domain, user, writer, count = sys.argv[1:6]
folder = mailbox.MailStore(root).mailbox(domain, user).folder("INBOX")
sys.stdin.readline()  # start together
uids = [folder.append(f"Subject: {writer}-{i}\\r\\n\\r\\n{'x' * i}\\r\\n".encode(),
                      [f"w{writer}"]).uid for i in range(int(count))]
print(json.dumps(uids))
"""


def raw(writer: int, i: int) -> bytes:
    return f"Subject: {writer}-{i}\r\n\r\n{'x' * i}\r\n".encode()


@pytest.mark.slow
def test_two_processes_append_while_we_flag(inbox: Folder, mail_root: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder_module, "COMPACT_MIN_BYTES", 8192)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(mail_root), DOMAIN, USER,
                                 str(w), str(PER_WRITER)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env, text=True)
               for w in (1, 2)]
    for proc in writers:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    flagged: set[int] = set()
    while any(proc.poll() is None for proc in writers):
        todo = [u for u in inbox.uids() if u not in flagged][:5]
        if todo:
            res = inbox.store_flags(todo[::2], "add", ["\\Seen"])
            flagged.update(todo[::2])
            assert set(res.changed) == set(todo[::2])
    outputs = [proc.communicate(timeout=120)[0] for proc in writers]
    assert [proc.returncode for proc in writers] == [0, 0]
    uids_by_writer = [json.loads(out) for out in outputs]

    all_uids = uids_by_writer[0] + uids_by_writer[1]
    assert len(set(all_uids)) == 2 * PER_WRITER
    assert sorted(all_uids) == inbox.uids()
    assert all(us == sorted(us) for us in uids_by_writer)
    for w, uids in enumerate(uids_by_writer, start=1):
        for i, uid in enumerate(uids):
            assert inbox.read_message(uid) == raw(w, i)
            expected = normalize_flags([f"w{w}", *(["\\Seen"] if uid in flagged else [])])
            assert inbox.record(uid).flags == expected
    assert flagged  # we really did write while they did
    fresh = reopen(mail_root, inbox)
    assert state(fresh) == state(inbox)
    assert fresh.status().count == 2 * PER_WRITER
    assert fresh.status().unseen == 2 * PER_WRITER - len(flagged)
    data = inbox.layout.journal.read_bytes()
    assert parse_journal(data)[1] == len(data)
    staging = mail_root / "domains" / DOMAIN / "users" / USER / "mail" / "tmp"
    assert list(staging.iterdir()) == []


CRASHER = """
import sys
from rmail.store import folder, mailbox
folder.COMPACT_MIN_BYTES = 4096
root, domain, user = sys.argv[1:4]
folder = mailbox.MailStore(root).mailbox(domain, user).folder("INBOX")
i = 0
while True:
    uid = folder.append(f"Subject: crash-{i}\\r\\n\\r\\n{'y' * (i % 50)}\\r\\n".encode()).uid
    print("A", i, uid, flush=True)
    folder.store_flags([uid], "add", ["\\\\Seen"])
    print("F", uid, flush=True)
    i += 1
"""


def test_kill_9_loses_nothing_acknowledged(inbox: Folder, mail_root: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with subprocess.Popen([sys.executable, "-c", CRASHER, str(mail_root), DOMAIN, USER],
                          stdout=subprocess.PIPE, env=env, text=True) as proc:
        assert proc.stdout is not None
        lines = []
        while len(lines) < 120:
            line = proc.stdout.readline()
            assert line, "the writer died on its own"
            lines.append(line.split())
        proc.kill()  # SIGKILL, at whatever point the writer is
        lines += [line.split() for line in proc.stdout.read().splitlines()]
    appended = {int(uid): int(i) for kind, *rest in lines if kind == "A" for i, uid in [rest]}
    flagged = {int(rest[0]) for kind, *rest in lines if kind == "F"}

    fresh = reopen(mail_root, inbox)
    for uid, i in appended.items():
        assert fresh.read_message(uid) == f"Subject: crash-{i}\r\n\r\n{'y' * (i % 50)}\r\n".encode()
    assert all("\\Seen" in fresh.record(uid).flags for uid in flagged)
    assert set(fresh.uids()) >= set(appended)
    assert len(fresh.uids()) <= len(appended) + 1  # at most the one in flight when killed
    new = fresh.append(b"Subject: after\r\n\r\n").uid
    assert new > max(appended)
    assert state(reopen(mail_root, inbox)) == state(fresh)
    data = fresh.layout.journal.read_bytes()
    assert parse_journal(data)[1] == len(data)
