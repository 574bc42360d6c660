"""bench/smtp.py still runs end to end (tiny sizes; skipped without Postfix's smtp-source).
Timings are never asserted."""

from __future__ import annotations

import shutil

import pytest

from tests.bench.runner import REPO, run_bench


@pytest.mark.skipif(shutil.which("smtp-source") is None,
                    reason="smtp-source not installed (apt-get install postfix)")
def test_bench_smtp_smoke() -> None:
    proc = run_bench([REPO / "bench" / "smtp.py", "--messages", "30", "--sessions", "1,3",
                      "--idle", "20"], timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "## Summary (target)" in proc.stdout
    assert "RSS of the largest process, 20 idle sessions" in proc.stdout
    assert "RSS of all processes, 20 idle sessions" in proc.stdout
