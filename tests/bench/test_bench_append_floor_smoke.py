"""The append-floor benchmark still runs end to end (tiny sizes). Timings are never asserted:
they are noise on a shared machine, and the script itself prints the figures."""

from __future__ import annotations

from pathlib import Path

from tests.bench.runner import REPO, run_bench


def test_bench_append_floor_smoke(tmp_path: Path) -> None:
    proc = run_bench([REPO / "bench" / "append_floor.py", "--writers", "2", "--seconds", "0.1",
                      "--rounds", "1", "--dir", tmp_path], timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in ("1. raw write+fsync+rename", "2. raw + directory fsync",
                 "3. minimal journaled append", "4. minimal + rmail's parse",
                 "5. rmail Folder.append"):
        assert line in proc.stdout, line
    assert "Command: `" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # the work directory was removed
