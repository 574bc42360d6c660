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


@pytest.mark.skipif(shutil.which("smtp-source") is None,
                    reason="smtp-source not installed (apt-get install postfix)")
def test_bench_smtp_lmtp_part_alone() -> None:
    """``--parts lmtp`` measures the LMTP point only (no MX, Postfix or memory part)."""
    proc = run_bench([REPO / "bench" / "smtp.py", "--messages", "20", "--parts", "lmtp",
                      "--workers", "1"], timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "## LMTP, 10 sessions" in proc.stdout
    assert "## MX" not in proc.stdout and "## Memory" not in proc.stdout
    assert "LMTP ratio vs dovecot" in proc.stdout or "dovecot not installed" in proc.stdout
    bad = run_bench([REPO / "bench" / "smtp.py", "--parts", "imap"], timeout=60)
    assert bad.returncode == 2 and "--parts" in bad.stderr
