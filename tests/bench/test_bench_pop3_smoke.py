"""bench/pop3.py still runs end to end (tiny sizes; Dovecot is used when installed). Timings
are never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_pop3_smoke() -> None:
    # the default work directory (beside the checkout): Dovecot's unprivileged login processes
    # cannot reach one under pytest's private tmp_path
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "pop3.py"), "--users", "2", "--messages", "20",
         "--rounds", "1", "--big", "500", "--idle", "10"],
        capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "## Download over POP3S" in proc.stdout
    assert "STAT + UIDL:" in proc.stdout
    assert "10 logged-in idle POP3 sessions" in proc.stdout
    work = proc.stdout.split("work directory ", 1)[1].split(";", 1)[0]
    assert not Path(work).exists()  # removed at the end
