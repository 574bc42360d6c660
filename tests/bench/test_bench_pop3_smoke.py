"""bench/pop3.py still runs end to end (tiny sizes; Dovecot is used when installed). Timings
are never asserted."""

from __future__ import annotations

from pathlib import Path

from tests.bench.runner import REPO, run_bench


def test_bench_pop3_smoke() -> None:
    # the default work directory (beside the checkout): Dovecot's unprivileged login processes
    # cannot reach one under pytest's private tmp_path
    proc = run_bench([REPO / "bench" / "pop3.py", "--users", "2", "--messages", "20",
                      "--rounds", "1", "--big", "500", "--idle", "10"], timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the client's safety net must not have been needed (README: the stall of 2026-12)
    assert "STALLED" not in proc.stdout
    assert "## Download over POP3S" in proc.stdout
    assert "STAT + UIDL:" in proc.stdout
    assert "10 logged-in idle POP3 sessions" in proc.stdout
    work = proc.stdout.split("work directory ", 1)[1].split(";", 1)[0]
    assert not Path(work).exists()  # removed at the end
