"""The smoke tests' benchmark runner leaves nothing running when a benchmark overruns: the
servers a benchmark starts share its process group, and the whole group is stopped (a
benchmark killed by `subprocess.run`'s timeout used to leave its rmail server running)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bench.runner import BenchTimeout, group_alive, run_bench, stop_group

# A stand-in benchmark: announces its work directory, starts a "server" that would run for
# five minutes (a child in its process group, as rmail and Dovecot are), records the server's
# pid, then hangs.
SCRIPT = """\
import pathlib, subprocess, sys, time
work = pathlib.Path(sys.argv[1])
work.mkdir()
print(f"work directory {work}; stand-in", flush=True)
server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
(work / "server.pid").write_text(str(server.pid))
time.sleep(300)
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_timed_out_benchmark_takes_its_servers_and_work_directory_along(
        tmp_path: Path) -> None:
    script = tmp_path / "bench.py"
    script.write_text(SCRIPT)
    work = tmp_path / "work"
    with pytest.raises(BenchTimeout) as caught:
        run_bench([script, work], timeout=15)
    assert not group_alive(caught.value.pgid)
    assert not work.exists()


def test_stop_group_stops_the_benchmark_and_its_servers(tmp_path: Path) -> None:
    script = tmp_path / "bench.py"
    script.write_text(SCRIPT)
    work = tmp_path / "work"
    proc = subprocess.Popen([sys.executable, str(script), str(work)], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("work directory ")
        pidfile = work / "server.pid"
        while not pidfile.exists() or not pidfile.read_text():  # the server is starting
            assert proc.poll() is None, "the stand-in benchmark ended early"
            time.sleep(0.05)
        server = int(pidfile.read_text())
        assert _running(server)
    finally:
        stop_group(proc)
        proc.stdout.close()
    assert proc.returncode is not None
    assert not _running(server)
    assert not group_alive(proc.pid)
