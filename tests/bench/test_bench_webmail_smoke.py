"""bench/webmail.py still runs end to end (smoke sizes; the wrk figure only where wrk is
installed). Timings are never asserted."""

from __future__ import annotations

from tests.bench.runner import REPO, run_bench


def test_bench_webmail_smoke() -> None:
    proc = run_bench([REPO / "bench" / "webmail.py", "--smoke"], timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "## Summary" in proc.stdout
    assert "| Figure | Result | Target | |" in proc.stdout
    for figure in ("List page, 2,000 vs 100 messages", "List page median",
                   "Detail page, 0.1 MB HTML mail", "Page weight before the message body"):
        assert figure in proc.stdout, figure
    assert "Command: `" in proc.stdout
