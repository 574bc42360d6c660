"""Path validation over HTTP, exactly as the manual: `..`, separators (also encoded), NUL and
control characters, reserved `_*` and `*.tmp` names, depth 64, 255-byte components; symlinks
planted on disk are never followed out of the drive."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.drive.conftest import Drive

BAD = ["/drive/../etc/passwd", "/drive/%2e%2e/etc/passwd", "/drive/a/%2E%2E/b",
       "/drive/a%2fb", "/drive/a%2Fb/c", "/drive/a%5cb", "/drive/a%00b", "/drive/a%01b",
       "/drive/a%7fb", "/drive/_index.json", "/drive/_meta.json", "/drive/x/_anything",
       "/drive/file.tmp", "/drive/a..b", "/drive/a//b", "/drive/%ff%fe",
       "/drive/" + "n" * 256, "/drive/" + "%C3%A9" * 128, "/drive/" + "/".join(["d"] * 65),
       "/drive/./x"]


@pytest.mark.parametrize("path", BAD)
async def test_refused(drive: Drive, path: str) -> None:
    for method in ("GET", "PUT", "MKCOL", "DELETE", "PROPFIND"):
        r = await drive.call(method, path, data=b"x" if method == "PUT" else None)
        assert r.status in (400, 404), (method, path, r.status)
    t = drive.totals()
    assert t["total_files"] == t["total_dirs"] == 0


async def test_limits_are_inclusive(drive: Drive) -> None:
    assert (await drive.call("PUT", "/drive/" + "n" * 255, data=b"1")).status == 201
    deep = "/drive/" + "/".join(["d"] * 63) + "/f"
    assert (await drive.call("PUT", deep, data=b"1")).status == 201
    assert (await drive.call("PUT", "/drive/sp%20ace%20%E2%82%AC.txt", data=b"1")).status == 201
    assert (await drive.call("GET", "/drive/sp%20ace%20%E2%82%AC.txt")).body == b"1"


async def test_symlinks_planted_on_disk(drive: Drive, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    await drive.call("PUT", "/drive/docs/real.txt", data=b"real")
    files = drive.files_dir()
    os.symlink(outside, files / "docs" / "escape")
    os.symlink(outside / "secret.txt", files / "docs" / "leak.txt")
    os.symlink(outside, files / "docs" / "esc.tmp")
    for path in ("/drive/docs/escape/secret.txt", "/drive/docs/leak.txt", "/drive/docs/escape"):
        r = await drive.call("GET", path)
        assert r.status == 404 and r.body != b"secret"
    r = await drive.call("GET", "/drive/docs")
    assert [c["name"] for c in r.json()["children"]] == ["real.txt"]
    # writes refuse to touch what the index does not know (and never follow it)
    for path in ("/drive/docs/escape/secret.txt", "/drive/docs/escape/new.txt",
                 "/drive/docs/leak.txt"):
        assert (await drive.call("PUT", path, data=b"pwn")).status == 409
    assert (await drive.call("MKCOL", "/drive/docs/escape")).status == 409
    assert (await drive.call("MOVE", "/drive/docs/real.txt",
                             headers={"Destination": "/drive/docs/leak.txt"})).status == 409
    assert (outside / "secret.txt").read_bytes() == b"secret"
    assert sorted(os.listdir(outside)) == ["secret.txt"]
