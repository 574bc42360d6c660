"""The parse benchmark still runs end to end, alone and against another checkout (this one
again). Timings are never asserted: they are noise on a shared machine."""

from __future__ import annotations

from tests.bench.runner import REPO, run_bench


def test_bench_parse_smoke() -> None:
    proc = run_bench([REPO / "bench" / "parse.py", "--smoke", "--against", REPO], timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "parse_meta CPU per message" in proc.stdout
    for case in ("store bench 4 KB text/plain: ", "multipart/alternative: ",
                 "text + PDF attachment: "):
        line = next(li for li in proc.stdout.splitlines() if li.startswith(case))
        assert " us, against " in line and line.endswith("x"), line
    assert "Command: `" in proc.stdout
