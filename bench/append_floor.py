"""Where an append's time goes (issue 14): rmail's durable append beside the floors under it,
all in one run, each with the same writers spread over the same processes.

1. raw: write 4 KB to a temp file, fsync, rename (`bench/store.py`'s peer, issue 2's target);
2. raw + the directory fsync a durable rename needs;
3. the least a durable, indexed append can do: the message written and fdatasynced on the
   caller's thread, then under an flock of the folder a rename into place and one journal line,
   then the journal fdatasynced and the directory fsynced; no batching, no parse, no meta;
4. the same plus rmail's parse of the message (`groupcommit.parse_for_store`: the meta record
   and the header-cache record every append stores);
5. rmail: `Folder.append` (group commit, journal, index, meta log, header cache).

Each line prints operations per second, its ratio to raw, and the CPU per operation of every
process (user and system, from the children's times). The gap between 3 and 4 is the parse,
between 4 and 5 what rmail's store does beyond the minimum; 1 against 3 is what any journaled
store pays. Absolute figures on a shared machine are noise; the ratios of one run are the
figure, and the load average is printed.

    .venv/bin/python bench/append_floor.py [--writers 8] [--seconds 2] [--rounds 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import fcntl
import itertools
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/append_floor.py` from a checkout
    sys.path.insert(0, str(REPO))

from bench.common import load, remove_work, say  # noqa: E402
from bench.store import (  # noqa: E402
    DOMAIN,
    USER,
    append_op,
    make_message,
    raw_op,
    run_procs,
    worker_processes,
)
from rmail.store import fsutil, groupcommit  # noqa: E402
from rmail.store.mailbox import MailStore  # noqa: E402

Op = Callable[[int, int], None]


def journaled_op(directory: Path, payload: bytes, *, parse: bool) -> Op:
    """Floor 3 (and 4 with `parse`): a durable append with an index and nothing more."""
    staging, placed = directory / "tmp", directory / "msg"
    lock_path, journal_path = str(directory / "folder.lock"), str(directory / "journal")
    journal = os.open(journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    pid, counter = os.getpid(), itertools.count()

    def op(tid: int, i: int) -> None:
        n = next(counter)
        staged = f"{staging}/{pid}.{n}"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, payload)
            if parse:
                groupcommit.parse_for_store(payload)
            os.fdatasync(fd)
        finally:
            os.close(fd)
        lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)  # one per call: threads too
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            os.rename(staged, f"{placed}/{pid}.{n}.eml")
            os.write(journal, b'{"op":"append","uid":%d,"flags":[],"size":%d}\n'
                     % (n, len(payload)))
        finally:
            os.close(lock)  # releases the flock
        os.fdatasync(journal)
        fsutil.fsync_dir(placed)

    return op


def op_maker(kind: int, directory: Path, root: Path, messages: list[bytes]
             ) -> Callable[[int], Op]:
    """What each forked process of run `kind` (0-4, in the order of the module docstring)
    calls after the fork to build its writers' operation."""
    payload = messages[0]

    def make(_process: int) -> Op:
        if kind < 2:
            return raw_op(directory / "msg", payload, dir_sync=kind == 1)
        if kind < 4:
            return journaled_op(directory, payload, parse=kind == 3)
        return append_op(MailStore(root).mailbox(DOMAIN, USER).folder("Floor"), messages)

    return make


def measure(procs: int, writers: int, seconds: float, make_op: Callable[[int], Op]
            ) -> tuple[float, float, float]:
    """(operations/s, user ms/op, system ms/op) over every process of the run: the forked
    ones, or this one when the writers run here (one process)."""
    before = os.times()
    rate = run_procs(procs, writers, seconds, make_op)
    after = os.times()
    ops = max(rate * seconds, 1.0)
    user = (after.children_user - before.children_user + after.user - before.user)
    system = (after.children_system - before.children_system + after.system - before.system)
    return rate, user / ops * 1000, system / ops * 1000


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writers", type=int, default=8, help="writer threads in all (default 8)")
    ap.add_argument("--seconds", type=float, default=2.0, help="length of one run")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of all five (median taken)")
    ap.add_argument("--dir", type=Path, default=None,
                    help="run on the disk of DIR (default: a temp dir beside the repo)")
    args = ap.parse_args(argv)
    parent = args.dir if args.dir is not None else REPO.parent
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rmail-bench-floor-", dir=parent))
    procs = worker_processes()
    say(f"# Where an append's time goes: {args.writers} writers over {procs} process(es), "
        f"4 KB messages, {args.seconds:g} s per run, median of {args.rounds} rounds")
    say(f"Load average at start: {load()}")
    try:
        root = work / "mailstore"
        (root / "domains" / DOMAIN / "users" / USER).mkdir(parents=True)
        store = MailStore(root)
        store.mailbox(DOMAIN, USER).init_defaults()
        store.mailbox(DOMAIN, USER).create_folder("Floor").append(make_message(0))
        messages = [make_message(i) for i in range(64)]
        runs: dict[str, list[tuple[float, float, float]]] = {}
        names = ["1. raw write+fsync+rename", "2. raw + directory fsync",
                 "3. minimal journaled append", "4. minimal + rmail's parse",
                 "5. rmail Folder.append"]
        for rnd in range(args.rounds):
            for k, name in enumerate(names):
                d = work / f"r{rnd}-{k}"
                for sub in ("tmp", "msg"):
                    (d / sub).mkdir(parents=True)
                runs.setdefault(name, []).append(
                    measure(procs, args.writers, args.seconds,
                            op_maker(k, d, root, messages)))
        raw = statistics.median(r[0] for r in runs[names[0]])
        say()
        say(f"{'':32} {'ops/s':>8} {'/ raw':>6} {'CPU ms/op':>10} {'user':>6} {'sys':>6}")
        for name in names:
            rate = statistics.median(r[0] for r in runs[name])
            user = statistics.median(r[1] for r in runs[name])
            system = statistics.median(r[2] for r in runs[name])
            say(f"{name:32} {rate:>8,.0f} {rate / raw:>6.2f} {user + system:>10.3f} "
                f"{user:>6.3f} {system:>6.3f}")
        say()
        say(f"Load average at end: {load()}")
        say(f"Command: `.venv/bin/python bench/append_floor.py {' '.join(sys.argv[1:])}`".rstrip())
    finally:
        remove_work(work, False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
