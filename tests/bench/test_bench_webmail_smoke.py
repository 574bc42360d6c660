"""bench/webmail.py still runs end to end (smoke sizes; the wrk figure only where wrk is
installed). Timings are never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_webmail_smoke() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "webmail.py"), "--smoke"],
                          capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "## Summary" in proc.stdout
    assert "| Figure | Result | Target | |" in proc.stdout
    for figure in ("List page, 2,000 vs 100 messages", "List page median",
                   "Detail page, 0.1 MB HTML mail", "Page weight before the message body"):
        assert figure in proc.stdout, figure
    assert "Command: `" in proc.stdout
