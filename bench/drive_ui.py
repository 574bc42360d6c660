"""Webmail drive benchmark (issue 13, "Performance").

1. A folder with 10,000 entries: median time until `GET /webmail/drive/big` (one page of
   tiles, the recursive totals, the breadcrumb) has been received, first page and a middle
   page, over a logged-in session. Target: <= 100 ms median. Peer in the same run: a bare
   aiohttp handler sending the same HTML bytes (what serving the page costs without building
   it), so the load of the machine shows in the ratio.
2. A large upload through the browser's form (multipart/form-data, the csrf field first)
   streamed from a generator: the server process's peak RSS over its RSS before the upload.
   Target: flat (a few tens of MB whatever the size).

rmail runs as `rmail serve` (one worker, plain HTTP on loopback).

    .venv/bin/python bench/drive_ui.py [--entries 10000] [--requests 40] [--upload-mb 1024]
"""

# ruff: noqa: E402  (imports follow the sys.path fix below)
from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
REPO = _HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import tempfile
import threading
import time

import aiohttp
import psutil
from aiohttp import web

from bench.common import (
    free_port,
    listeners,
    serve_rmail,
    stop_process,
    wait_port,
    write_config,
)
from rmail import auth
from rmail.store.drive import DrivePath, DriveStore

DOMAIN, USER, PASSWORD = "bench.example", "bench", "bench-password"


def fill(root: Path, entries: int) -> None:
    drive = DriveStore(root).drive(DOMAIN, USER)
    items = []
    for i in range(entries):
        path = DrivePath.parse(f"big/file-{i:05d}.txt")
        upload = drive.begin_write(path, form_upload=True)
        upload.write(b"x" * (i % 100))
        items.append((path, upload, None))
        if len(items) == 2000:
            drive.write_many(items)
            items = []
    drive.write_many(items)


def start(root: Path, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = serve_rmail(write_config(work / "rmail.json", {
        "hostname": "localhost", "mail_root": str(root), "domains": [DOMAIN],
        "listeners": listeners(http={"port": port, "tls": False, "access_log": False})}),
        log=work / "rmail.log")
    wait_port(port, proc)
    return proc, f"http://127.0.0.1:{port}"


def hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    if m is None:
        raise SystemExit(f"no {name} field in the page")
    return m.group(1)


async def login(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(base + "/webmail/login") as r:
        html = await r.text()
    async with session.post(base + "/webmail/login", data={
            "csrf": hidden(html, "csrf"), "username": f"{USER}@{DOMAIN}",
            "password": PASSWORD, "next": ""}, allow_redirects=False) as r:
        if r.status != 303:
            raise SystemExit(f"login failed: {r.status}")


async def timed(session: aiohttp.ClientSession, url: str, n: int) -> tuple[list[float], bytes]:
    times, body = [], b""
    for _ in range(n):
        t = time.perf_counter()
        async with session.get(url) as r:
            body = await r.read()
            assert r.status == 200, r.status
        times.append(time.perf_counter() - t)
    return times, body


async def peer(body: bytes, n: int) -> list[float]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        async with aiohttp.ClientSession() as s:
            times, _ = await timed(s, f"http://127.0.0.1:{port}/", n)
    finally:
        await runner.cleanup()
    return times


async def upload(session: aiohttp.ClientSession, base: str, pid: int, mb: int) -> tuple[int, int]:
    async with session.get(base + "/webmail/drive/") as r:
        csrf = hidden(await r.text(), "csrf")
    proc = psutil.Process(pid)
    before = proc.memory_info().rss
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak.append(proc.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    block = os.urandom(1024 * 1024)

    async def body():  # type: ignore[no-untyped-def]
        for _ in range(mb):
            yield block

    writer = aiohttp.MultipartWriter("form-data")
    part = writer.append(csrf)
    part.headers["Content-Disposition"] = 'form-data; name="csrf"'
    part = writer.append(body(), {"Content-Type": "application/octet-stream"})
    part.headers["Content-Disposition"] = 'form-data; name="files"; filename="huge.bin"'
    try:
        async with session.post(base + "/webmail/drive/_upload", data=writer,
                                allow_redirects=False) as r:
            if r.status != 303:
                raise SystemExit(f"upload failed: {r.status} {(await r.text())[:300]}")
    finally:
        stop.set()
        sampler.join()
    return before, max(peak)


async def run(args: argparse.Namespace, base: str, pid: int) -> None:
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     timeout=timeout) as session:
        await login(session, base)
        url = base + "/webmail/drive/big"
        await timed(session, url, 3)  # warm the caches
        first, body = await timed(session, url, args.requests)
        middle, _ = await timed(session, f"{url}?offset={args.entries // 2}", args.requests)
        bare = await peer(body, args.requests)
        tiles = body.count(b'class="tile-wrap')
        med = statistics.median
        print(f"load average {os.getloadavg()[0]:.2f}")
        print(f"| 10,000-entry folder page ({tiles} tiles, {len(body) // 1024} KB) | rmail ms "
              f"| bare aiohttp, same bytes, ms | ratio |")
        print("|---|---|---|---|")
        print(f"| first page, median | {med(first) * 1000:.1f} | {med(bare) * 1000:.1f} | "
              f"{med(first) / med(bare):.1f} |")
        print(f"| middle page, median | {med(middle) * 1000:.1f} | {med(bare) * 1000:.1f} | "
              f"{med(middle) / med(bare):.1f} |")
        if args.upload_mb:
            t = time.perf_counter()
            before, peak = await upload(session, base, pid, args.upload_mb)
            secs = time.perf_counter() - t
            print(f"\nupload {args.upload_mb} MB through the form: {secs:.1f} s, server RSS "
                  f"{before // 2**20} MB before, peak {peak // 2**20} MB "
                  f"(+{(peak - before) // 2**20} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--upload-mb", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rmail-bench-") as tmp:
        work = Path(tmp)
        root = work / "store"
        asyncio.run(auth.create_user(root, USER, DOMAIN, PASSWORD, quota_mb=1024 * 1024))
        fill(root, args.entries)
        proc, base = start(root, work)
        try:
            asyncio.run(run(args, base, proc.pid))
        finally:
            stop_process(proc)


if __name__ == "__main__":
    main()
