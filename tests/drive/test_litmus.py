"""litmus (Debian `litmus`), the WebDAV conformance suite, against the drive: basic, copymove,
props, locks and http must all pass."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from tests.drive.conftest import DOMAIN, Drive, password_of

LITMUS = shutil.which("litmus")
pytestmark = pytest.mark.skipif(LITMUS is None, reason="litmus is not installed "
                                "(apt-get install litmus; .ci/run installs it in CI)")

SUITES = ("basic", "copymove", "props", "locks", "http")
SUMMARY = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")


async def run_litmus(drive: Drive, workdir: Path, suites: str) -> tuple[int, str]:
    assert LITMUS is not None
    proc = await asyncio.create_subprocess_exec(
        LITMUS, f"{drive.base}/drive/", f"alice@{DOMAIN}", password_of("alice"),
        cwd=workdir, env={"TESTS": suites, "PATH": "/usr/bin:/bin", "HOME": str(workdir)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
    return proc.returncode or 0, out.decode(errors="replace")


@pytest.mark.parametrize("suite", SUITES)
async def test_litmus_suite(drive: Drive, tmp_path: Path, suite: str) -> None:
    code, out = await run_litmus(drive, tmp_path, suite)
    summaries = {m[0]: (int(m[1]), int(m[2]), int(m[3])) for m in SUMMARY.findall(out)}
    assert suite in summaries, out
    run, passed, failed = summaries[suite]
    assert failed == 0 and passed == run, out
    assert code == 0, out
