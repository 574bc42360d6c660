"""HTTP API benchmark (issue 5, "Performance") with `wrk`; prints figures and a summary.

1. `GET /folders` with a valid Bearer token against a bare aiohttp hello-world handler, both
   served by one process each on this machine in the same run. Target: rmail/bare >= 0.4.
2. Median latency of `GET /folders/{folder}/messages?limit=50` in a 1,000- and a
   100,000-message folder. Targets: <= 20 ms, and no growth with folder size.

Both servers speak plain HTTP (TLS would measure OpenSSL, not the app), run with logging
as `rmail serve` does, and loopback is trusted, so the rate limit does not interfere. The
folders are built directly (index columns written as a snapshot) with real message files for
the newest messages only: listing a page reads nothing else.

    .venv/bin/python bench/http_api.py [--seconds 5] [--rounds 3] [--connections 50] [--keep]

Where the time of a `GET /folders` goes (cProfile of the handler, 6 folders): the token check
is a dict hit plus one `stat` of `account.json` (`Accounts.get_current`); each folder status
is two `stat` calls on paths the store builds anew with `pathlib` on every call, which is
most of what remains. Caching the `Path` objects in the store's layout classes, or a
`UserMailbox` call that returns every folder's status at once, would be the next step.

Needs Debian's `wrk` (`apt-get install wrk`); not run by CI.
"""

# ruff: noqa: E402  (imports follow the sys.path fix below)
from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/http_api.py`, this file's directory comes first on sys.path, where a
# module named like a standard one would shadow it: drop it before the imports.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from array import array
from urllib.request import Request, urlopen

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/http_api.py` from a checkout
    sys.path.insert(0, str(REPO))

from bench import workers as bench_workers
from bench.common import free_port, remove_work, say, stop_process
from rmail import auth
from rmail.auth.tokens import issue_token
from rmail.config import LISTENER_NAMES
from rmail.store import fsutil
from rmail.store.journal import FolderIndex
from rmail.store.mailbox import MailStore
from rmail.store.searchindex import SearchIndex

DOMAIN, USER, PASSWORD = "bench.example", "bench", "bench-password"
SECRET = "b" * 64
PAGE = 50
FOLDERS = {"Small": 1_000, "Big": 100_000}
TARGET_RATIO = 0.4
TARGET_MEDIAN_MS = 20.0

HELLO = f"""
import logging, sys
sys.path.insert(0, {str(REPO)!r})
from aiohttp import web
from rmail.web.accesslog import ACCESS_LOG, AccessLogger  # the access log rmail serve keeps
logging.basicConfig(level=logging.INFO)
async def hello(request):
    return web.Response(text="Hello, world")
app = web.Application()
app.router.add_get("/", hello)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None,
            access_log_class=AccessLogger, access_log=ACCESS_LOG)
"""


def message(uid: int) -> bytes:
    return (f"From: Sender {uid} <sender{uid}@example.org>\r\nTo: {USER}@{DOMAIN}\r\n"
            f"Subject: Message number {uid}\r\nDate: Sun, 13 Apr 2025 14:30:00 +0000\r\n"
            f"Message-ID: <{uid}@example.org>\r\n\r\nHello, this is message {uid}.\r\n"
            ).encode() + b"x" * 2000 + b"\r\n"


def build_folder(store: MailStore, name: str, n: int, bodies: int) -> None:
    """`n` messages in the index; message files for the newest `bodies` of them."""
    folder = store.mailbox(DOMAIN, USER).create_folder(name)
    status = folder.status()
    idx = FolderIndex(status.uidvalidity, n + 1, n)
    idx.uids = array("q", range(1, n + 1))
    idx.modseqs = array("q", range(1, n + 1))
    idx.flagsets = [(), ("\\Seen",)]
    idx.flag_ids = array("q", (1 if i % 5 else 0 for i in range(n)))
    idx.sizes = array("q", [len(message(1))] * n)
    idx.dates = array("q", range(1_600_000_000, 1_600_000_000 + n))
    with open(folder.layout.snapshot, "wb") as f:
        idx.write_snapshot(f)
    fsutil.atomic_write(folder.layout.journal, b"")
    for uid in range(n - bodies + 1, n + 1):
        path = folder.layout.msg_path(uid)
        fsutil.ensure_dir(path.parent)
        path.write_bytes(message(uid))


def wait_http(url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urlopen(Request(url, headers=headers or {}), timeout=5) as response:
                response.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wrk(url: str, *, seconds: int, connections: int, threads: int,
        token: str | None = None, headers: dict[str, str] | None = None) -> dict[str, float]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    for name, value in (headers or {}).items():
        cmd[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    median = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {"rps": rps, "non2xx": float(errors.group(1)) if errors else 0.0,
            "median_ms": float(median.group(1)) * scale[median.group(2)] if median else -1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temporary mail root")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        say("wrk not found: apt-get install wrk")
        return 2

    work = Path(tempfile.mkdtemp(prefix="rmail-bench-http-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        root = work / "mailstore"
        asyncio.run(auth.create_user(root, USER, DOMAIN, PASSWORD))
        store = MailStore(root)
        t = time.perf_counter()
        for name, n in FOLDERS.items():
            build_folder(store, name, n, bodies=PAGE * 2)
        say(f"built folders {FOLDERS} in {time.perf_counter() - t:.1f} s")
        # The server's search indexer catches every user up at start; doing it here keeps
        # that one-off pass (most of the server's CPU for a minute) out of the timed runs.
        t = time.perf_counter()
        index = SearchIndex(store.mailbox(DOMAIN, USER))
        index.sync()
        index.close()
        say(f"search index caught up in {time.perf_counter() - t:.1f} s")

        port, hello_port = free_port(), free_port()
        listeners = {name: {"enabled": False} for name in LISTENER_NAMES}
        listeners["http"] = {"enabled": True, "host": "127.0.0.1", "port": port, "tls": False}
        config = {"hostname": "localhost", "mail_root": str(root), "domains": [DOMAIN],
                  "listeners": listeners, "exchange_api": {"token_secret": SECRET},
                  "workers": bench_workers()}
        (work / "config.json").write_text(json.dumps(config))
        log = open(work / "rmail.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(subprocess.Popen([sys.executable, "-m", "rmail", "--config",
                                       str(work / "config.json"), "serve"], cwd=REPO,
                                      stdout=log, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen([sys.executable, "-c", HELLO, str(hello_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        token = issue_token(SECRET, USER, DOMAIN, ttl=86400)
        base, hello = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{hello_port}/"
        auth_header = {"Authorization": f"Bearer {token}"}
        wait_http(base + "/folders", auth_header)
        wait_http(hello)
        for name in FOLDERS:  # warm: index loaded, meta cache of the first page written
            wait_http(f"{base}/folders/{name}/messages?limit={PAGE}", auth_header)

        say(f"\n1. throughput, wrk -c{args.connections} -d{args.seconds}s, {args.rounds} rounds "
            "alternating the two servers (one process each); median of the round ratios")
        ratios, bare_rps, rmail_rps = [], [], []
        for _ in range(args.rounds):
            bare = wrk(hello, seconds=args.seconds, connections=args.connections, threads=2)
            folders = wrk(base + "/folders", seconds=args.seconds,
                          connections=args.connections, threads=2, token=token)
            if folders["non2xx"]:
                say(f"   warning: {folders['non2xx']:.0f} non-2xx answers from rmail")
            bare_rps.append(bare["rps"])
            rmail_rps.append(folders["rps"])
            ratios.append(folders["rps"] / bare["rps"])
            say(f"   bare {bare['rps']:>8,.0f} req/s   rmail GET /folders (JWT) "
                f"{folders['rps']:>8,.0f} req/s   ratio {ratios[-1]:.2f}")
        ratio = statistics.median(ratios)
        say(f"   median ratio rmail/bare {ratio:.2f}   target >= {TARGET_RATIO}")

        say(f"\n2. GET /folders/{{folder}}/messages?limit={PAGE}, one connection, median")
        medians = {}
        for name, n in FOLDERS.items():
            result = wrk(f"{base}/folders/{name}/messages?limit={PAGE}",
                         seconds=max(3, args.seconds // 2), connections=1, threads=1,
                         token=token)
            medians[name] = result["median_ms"]
            say(f"   {n:>9,} messages   median {result['median_ms']:6.2f} ms   "
                f"{result['rps']:8,.0f} req/s   (non-2xx: {result['non2xx']:.0f})")
        growth = medians["Big"] / medians["Small"]
        say(f"   100,000 / 1,000 median ratio {growth:.2f}")

        ok1 = ratio >= TARGET_RATIO
        ok2 = max(medians.values()) <= TARGET_MEDIAN_MS
        say("\nsummary")
        say(f"   GET /folders vs bare handler: {ratio:.2f} ({'ok' if ok1 else 'below target'})")
        say(f"   listing median in 100,000 messages: {medians['Big']:.2f} ms "
            f"({'ok' if ok2 else 'above target'}), x{growth:.2f} of the 1,000 folder")
        return 0
    finally:
        clean_up(procs, work, keep=args.keep)


def clean_up(procs: list[subprocess.Popen[bytes]], work: Path, *, keep: bool) -> None:
    """Stop the servers a benchmark started (by their pid) and remove its work directory."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        stop_process(proc)
    remove_work(work, keep)


if __name__ == "__main__":
    raise SystemExit(main())
