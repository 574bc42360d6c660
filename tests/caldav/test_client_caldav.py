"""End to end with the `caldav` PyPI client library, a real CalDAV client over a socket (run in
a subprocess: this test package is also called `caldav`)."""

from __future__ import annotations

import asyncio
import importlib.machinery
import json
import sys
from pathlib import Path

import pytest

from tests.caldav.conftest import DOMAIN, PASSWORDS

SCRIPT = Path(__file__).with_name("lib_client_scenario.py")


def caldav_library_installed() -> bool:
    """Look in site-packages only (this folder shadows the name on sys.path)."""
    paths = [p for p in sys.path if "site-packages" in p]
    return importlib.machinery.PathFinder.find_spec("caldav", paths) is not None


pytestmark = pytest.mark.skipif(not caldav_library_installed(),
                                reason="the caldav client library (PyPI caldav) is not installed")


async def run_client(*args: str) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode == 0, err.decode()[-3000:]
    return json.loads(out)


async def test_caldav_library_end_to_end(dav) -> None:
    url = str(dav.client.make_url("/caldav/"))
    other = str(dav.client.make_url("/caldav/bob/calendars/default/"))
    out = await run_client(url, f"alice@{DOMAIN}", PASSWORDS["alice"], other)
    assert out["names"] == ["Calendar", "Invitations"]
    assert out["found"] == ["lib-1"]
    assert out["expanded"] == 4  # weekly from 01-10, COUNT=4: 10, 17, 24, 31
    assert out["renamed"] == "Renamed"
    assert out["sync"] >= 1
    assert out["after_delete"] == ["lib-1"]
    assert out["final"] == ["Calendar", "Invitations"]
    assert out["other_user"] != "readable"
