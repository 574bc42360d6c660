"""How a smoke test runs a benchmark script: in a session and process group of its own, so a
benchmark that overruns its timeout is stopped together with every server it started.

`subprocess.run(timeout=...)` kills only the benchmark's own process; the rmail server (its
supervisor and workers) and Dovecot it had started kept running and kept their ports, their
CPU and the work directory. Here the whole group gets SIGTERM (rmail's supervisor and workers
stop gracefully, Dovecot too), then SIGKILL once `STOP_GRACE` has passed, and the work
directory a benchmark announced ("work directory PATH;") is removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["REPO", "STOP_GRACE", "BenchTimeout", "group_alive", "run_bench", "stop_group"]

REPO = Path(__file__).resolve().parents[2]
# rmail's supervisor gives its workers SHUTDOWN_GRACE (10 s) and a margin (5 s) before SIGKILL
STOP_GRACE = 20.0
_WORK_DIR = re.compile(r"^work directory (\S+?);", re.MULTILINE)


class BenchTimeout(AssertionError):
    """The benchmark did not finish in time; its process group (`pgid`) was stopped."""

    def __init__(self, message: str, pgid: int) -> None:
        super().__init__(message)
        self.pgid = pgid


def run_bench(args: list[str | Path], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` from the checkout and return what it printed; `BenchTimeout` (with
    the output so far) when it runs longer than ``timeout`` seconds."""
    cmd = [sys.executable, *map(str, args)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc)
        out, err = proc.communicate()
        _remove_work_dir(out)
        raise BenchTimeout(f"{' '.join(cmd)} ran longer than {timeout:g} s; its process group "
                           f"was stopped\n{out}{err}", proc.pid) from None
    except BaseException:  # interrupted: leave nothing running either
        stop_group(proc)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the benchmark's process group, SIGKILL to what is left after `STOP_GRACE`.

    The benchmark is reaped only at the end: until then its process id, which is the group's
    id, cannot be given to another process, so the signals reach only this group."""
    _kill_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if group_alive(proc.pid):
        _kill_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """Whether a process of the group is still running (zombies do not count: the benchmark
    itself, not yet reaped, and servers it left that wait for init to reap them)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _remove_work_dir(out: str) -> None:
    match = _WORK_DIR.search(out)
    if match is not None:
        shutil.rmtree(match.group(1), ignore_errors=True)
