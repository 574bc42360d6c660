"""The provisioning benchmark still runs end to end (tiny sizes). Timings are never asserted."""

from __future__ import annotations

from pathlib import Path

from tests.bench.runner import REPO, run_bench


def test_bench_provisioning_smoke(tmp_path: Path) -> None:
    proc = run_bench([REPO / "bench" / "provisioning.py", "--smoke", "--dir", tmp_path],
                     timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "created 80, updated 0, removed 0, unchanged 0" in proc.stdout
    assert "created 0, updated 0, removed 0, unchanged 70" in proc.stdout
    for figure in ("| First apply (wall) |", "| Unchanged apply (wall / CPU) |",
                   "| REST change visible to SMTP"):
        assert figure in proc.stdout, figure
    assert list(tmp_path.iterdir()) == []
