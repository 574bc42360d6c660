"""`kill -9` of a real `bin/rmail serve` while an upload is arriving: after a restart nothing
partial is visible, staged bytes are gone, and the totals are exact."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.drive.conftest import Drive, basic

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def start(config_file: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(REPO / "bin" / "rmail"), "--config",
                             str(config_file), "serve"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = json.loads(config_file.read_text())["listeners"]["http"]["port"]
    for _ in range(300):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise AssertionError("rmail serve exited") from None
            await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError("rmail serve did not start")


@pytest.mark.slow
async def test_kill_9_mid_upload(drive: Drive, tmp_path: Path) -> None:
    await drive.call("PUT", "/drive/docs/before.txt", data=b"acknowledged")
    port = free_port()
    listeners = {name: {"enabled": False} for name in
                 ("smtp", "submission", "submissions", "lmtp", "imap", "imaps", "pop3",
                  "pop3s")}
    listeners["http"] = {"enabled": True, "host": "127.0.0.1", "port": port, "tls": False}
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({
        "hostname": "localhost", "mail_root": str(drive.config.mail_root),
        "domains": ["example.com"], "listeners": listeners}))
    base = f"http://127.0.0.1:{port}"
    hdrs = {"Authorization": basic("alice")}
    proc = await start(config_file)
    try:
        sent = 0
        staged = asyncio.Event()

        async def body():  # type: ignore[no-untyped-def]
            nonlocal sent
            block = b"p" * (256 * 1024)
            while True:
                yield block
                sent += len(block)
                if sent >= 8 * 1024 * 1024:
                    staged.set()
                    await asyncio.sleep(0.05)

        async with aiohttp.ClientSession() as s:
            task = asyncio.create_task(s.put(f"{base}/drive/docs/partial.bin", data=body(),
                                             headers=hdrs))
            await asyncio.wait_for(staged.wait(), 120)
            tmp = drive.config.mail_root / "domains/example.com/users/alice/drive/tmp"
            for _ in range(600):  # the server may still be checking the password
                if any(n.startswith("upload.") and (tmp / n).stat().st_size > 0
                       for n in os.listdir(tmp)):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the upload never reached the disk")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            with pytest.raises((aiohttp.ClientError, ConnectionError)):
                await task
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    proc = await start(config_file)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/drive/docs/partial.bin", headers=hdrs) as r:
                assert r.status == 404
            async with s.get(f"{base}/drive/docs", headers=hdrs) as r:
                listing = await r.json()
            assert [c["name"] for c in listing["children"]] == ["before.txt"]
            async with s.get(f"{base}/drive/", headers=hdrs) as r:
                root = await r.json()
        assert (root["total_files"], root["total_dirs"], root["total_bytes"]) == (1, 1, 12)
        assert not [n for n in os.listdir(tmp) if n.startswith("upload.")]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
