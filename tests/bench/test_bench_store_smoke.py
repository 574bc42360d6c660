"""The storage benchmark still runs end to end (tiny sizes). Timings are never asserted: they
are noise on a shared machine, and the benchmark itself prints the figures and targets."""

from __future__ import annotations

from pathlib import Path

from tests.bench.runner import REPO, run_bench


def test_bench_store_smoke(tmp_path: Path) -> None:
    proc = run_bench([REPO / "bench" / "store.py", "--quick", "--smoke", "--dir", tmp_path],
                     timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "## Summary" in proc.stdout
    assert "| Figure | Result | Target | |" in proc.stdout
    for figure in ("Durable appends / raw", "One flag change", "One append",
                   "folder: time", "folder: peak RSS"):
        assert figure in proc.stdout, figure
    assert "Command: `" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # the work directory was removed
