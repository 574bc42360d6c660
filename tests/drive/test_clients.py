"""Real clients: a scripted `cadaver` session (put, get, mkcol, move, delete) and `curl` for
the manual's examples (Basic auth header, upload, download, share link)."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from pathlib import Path

import pytest

from tests.drive.conftest import DOMAIN, Drive, password_of

CADAVER = shutil.which("cadaver")
CURL = shutil.which("curl")


async def run(*args: str, cwd: Path, env: dict[str, str] | None = None,
              stdin: bytes = b"") -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=cwd, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout=120)
    return proc.returncode or 0, out.decode(errors="replace")


@pytest.mark.skipif(CADAVER is None, reason="cadaver is not installed "
                    "(apt-get install cadaver; .ci/run installs it in CI)")
async def test_cadaver_session(drive: Drive, tmp_path: Path) -> None:
    assert CADAVER is not None
    host, _ = drive.host_port
    (tmp_path / ".netrc").write_text(
        f"machine {host}\nlogin alice@{DOMAIN}\npassword {password_of('alice')}\n")
    (tmp_path / ".netrc").chmod(0o600)
    (tmp_path / "local.txt").write_bytes(b"from cadaver\n")
    script = "\n".join([
        "mkcol stuff", "cd stuff", "put local.txt", "get local.txt fetched.txt",
        "move local.txt renamed.txt", "ls", "mkcol sub", "copy renamed.txt sub/copy.txt",
        "propset renamed.txt color red", "propget renamed.txt color",
        "lock renamed.txt", "unlock renamed.txt",
        "delete renamed.txt", "cd ..", "rmcol stuff", "ls", "quit", ""])
    code, out = await run(CADAVER, f"{drive.base}/drive/", cwd=tmp_path,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
                          stdin=script.encode())
    assert code == 0, out
    assert "failed" not in out.lower(), out
    assert "renamed.txt" in out and "red" in out, out
    assert (tmp_path / "fetched.txt").read_bytes() == b"from cadaver\n"
    t = drive.totals()
    assert (t["total_files"], t["total_dirs"]) == (0, 0), out


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
async def test_curl_examples(drive: Drive, tmp_path: Path) -> None:
    assert CURL is not None
    b64 = base64.b64encode(f"alice@{DOMAIN}:{password_of('alice')}".encode()).decode()
    auth = ["-H", f"Authorization: Basic {b64}"]
    (tmp_path / "budget.xlsx").write_bytes(b"numbers" * 1000)
    base = drive.base

    async def curl(*args: str) -> str:
        code, out = await run(CURL, "-sS", *args, cwd=tmp_path)
        assert code == 0, out
        return out

    out = await curl(*auth, "-T", "budget.xlsx", f"{base}/drive/docs/budget.xlsx",
                     "-w", "%{http_code}")
    assert out.endswith("201")
    listing = json.loads(await curl(*auth, f"{base}/drive/"))
    assert listing["total_bytes"] == 7000
    await curl(*auth, "-o", "back.xlsx", f"{base}/drive/docs/budget.xlsx")
    assert (tmp_path / "back.xlsx").read_bytes() == b"numbers" * 1000
    out = await curl(*auth, "-F", "file=@budget.xlsx;filename=folder/sub/b.xlsx",
                     f"{base}/drive/upload")
    assert json.loads(out)["uploaded"][0]["path"] == "upload/folder/sub/b.xlsx"
    share = json.loads(await curl(
        "-X", "POST", *auth, "-H", "Content-Type: application/json", "--data",
        '{"target_path":"docs/budget.xlsx","name":"Q3 Budget","permissions":"R"}',
        f"{base}/drive/_share"))
    await curl("-o", "public.xlsx", share["url"])
    assert (tmp_path / "public.xlsx").read_bytes() == b"numbers" * 1000
    out = await curl(*auth, "-X", "MOVE", "-H", f"Destination: {base}/drive/docs/b2.xlsx",
                     "-H", "Overwrite: F", f"{base}/drive/docs/budget.xlsx", "-w", "%{http_code}")
    assert out.endswith("201")
    out = await curl("-o", "/dev/null", "-w", "%{http_code} %header{www-authenticate}",
                     f"{base}/drive/")
    assert out.startswith("401 Basic")
