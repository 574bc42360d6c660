"""Drive benchmark (issue 6, "Performance"): rmail's drive against Apache mod_dav, same run.

1. Upload and download of one large file (200 MB) with `curl` (PUT -T / GET -o /dev/null).
   Target: rmail/Apache >= 0.7 for throughput.
2. 2,000 small files (4 KB) uploaded and downloaded by 8 concurrent aiohttp clients.
3. `wrk` GET of one small file with Basic auth. Target: rmail/Apache >= 0.5 requests/s.

Both servers speak plain HTTP on loopback with Basic auth, and both write to the same disk.
rmail makes every upload durable before it answers (fsync of the data, the indexes and the
drive's meta file); Apache mod_dav does not fsync at all, so uploads of small files measure
that difference more than anything else.

    .venv/bin/python bench/drive.py [--size-mb 200] [--files 2000] [--seconds 10] [--keep]

Needs Debian's `apache2`, `curl` and `wrk`; not run by CI.
"""

# ruff: noqa: E402  (imports follow the sys.path fix below)
from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/drive.py`, this file's directory comes first on sys.path, where
# a module named like a standard one would shadow it: drop it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
REPO = _HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import aiohttp

from bench import workers as bench_workers
from rmail import auth

DOMAIN, USER, PASSWORD = "bench.example", "bench", "bench-password"
LOGIN = f"{USER}@{DOMAIN}"
MODULES = Path("/usr/lib/apache2/modules")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc is not None and proc.poll() is not None:
            raise SystemExit("server exited during startup")
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


# -- the two servers --------------------------------------------------------------------------
def start_rmail(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    root = work / "rmail-store"
    asyncio.run(auth.create_user(root, USER, DOMAIN, PASSWORD, quota_mb=1024 * 1024))
    port = free_port()
    listeners: dict[str, dict[str, object]] = {
        n: {"enabled": False} for n in ("smtp", "submission", "submissions", "lmtp", "imap",
                                         "imaps", "pop3", "pop3s")}
    # Apache below keeps no access log either (ErrorLog only): compare the same work.
    listeners["http"] = {"enabled": True, "host": "127.0.0.1", "port": port, "tls": False,
                         "access_log": False}
    cfg = work / "rmail.json"
    cfg.write_text(json.dumps({"hostname": "localhost", "mail_root": str(root),
                               "domains": [DOMAIN], "listeners": listeners,
                               "workers": bench_workers()}))
    proc = subprocess.Popen([sys.executable, str(REPO / "bin" / "rmail"), "--config", str(cfg),
                             "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc, f"http://127.0.0.1:{port}/drive/"


def start_apache(work: Path) -> tuple[Path, str]:
    if shutil.which("apache2") is None:
        raise SystemExit("apache2 is not installed (apt-get install apache2)")
    base = work / "apache"
    dav = base / "www" / "dav"
    (base / "logs").mkdir(parents=True)
    dav.mkdir(parents=True)
    subprocess.run(["htpasswd", "-bcs", str(base / "htpasswd"), LOGIN, PASSWORD],
                   check=True, capture_output=True)
    port = free_port()
    mods = ["mpm_event", "authn_core", "authn_file", "authz_core", "authz_user", "auth_basic",
            "dav", "dav_fs"]
    user = "www-data"
    subprocess.run(["chown", "-R", f"{user}:{user}", str(base)], check=False)
    conf = base / "httpd.conf"
    conf.write_text("\n".join([
        f"ServerRoot {base}", f"Listen 127.0.0.1:{port}", "ServerName localhost",
        *[f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in mods],
        f"User {user}", f"Group {user}", f"PidFile {base}/httpd.pid",
        f"ErrorLog {base}/logs/error.log", "LogLevel warn", f"DavLockDB {base}/DavLock",
        "MaxRequestWorkers 150", "LimitRequestBody 0", f'DocumentRoot "{dav.parent}"',
        f'<Directory "{dav}">', "  Dav On", "  AuthType Basic", '  AuthName "bench"',
        f"  AuthUserFile {base}/htpasswd", "  Require valid-user", "</Directory>", ""]))
    subprocess.run(["apache2", "-f", str(conf), "-k", "start"], check=True,
                   env={**os.environ, "APACHE_RUN_DIR": str(base), "APACHE_LOG_DIR":
                        str(base / "logs")})
    wait_port(port)
    return base, f"http://127.0.0.1:{port}/dav/"


def stop_apache(base: Path) -> None:
    pid_file = base / "httpd.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


# -- workloads ---------------------------------------------------------------------------------
def auth_header() -> str:
    return "Basic " + base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()


def curl(*args: str) -> str:
    out = subprocess.run(["curl", "-sS", "-H", f"Authorization: {auth_header()}", *args],
                         check=True, capture_output=True, text=True)
    return out.stdout


def large_file(url: str, path: Path) -> tuple[float, float]:
    """(upload MB/s, download MB/s) with curl."""
    mb = path.stat().st_size / 1e6
    t = time.perf_counter()
    code = curl("-T", str(path), "-o", "/dev/null", "-w", "%{http_code}", url + "big.bin")
    up = time.perf_counter() - t
    assert code in ("200", "201", "204"), code
    t = time.perf_counter()
    code = curl("-o", "/dev/null", "-w", "%{http_code}", url + "big.bin")
    down = time.perf_counter() - t
    assert code == "200", code
    return mb / up, mb / down


async def small_files(url: str, n: int, workers: int = 8) -> tuple[float, float]:
    """(uploads/s, downloads/s) of `n` 4 KB files into one collection."""
    body = os.urandom(4096)
    hdrs = {"Authorization": auth_header()}
    conn = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=conn) as s:
        async with s.request("MKCOL", url + "small/", headers=hdrs) as r:
            assert r.status in (201, 405), r.status

        async def run(method: str) -> float:
            queue = list(range(n))

            async def worker() -> None:
                while queue:
                    i = queue.pop()
                    target = f"{url}small/f{i}.bin"
                    if method == "PUT":
                        async with s.put(target, data=body, headers=hdrs) as r:
                            assert r.status in (200, 201, 204), r.status
                    else:
                        async with s.get(target, headers=hdrs) as r:
                            assert r.status == 200 and len(await r.read()) == 4096

            t = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(workers)))
            return n / (time.perf_counter() - t)

        return await run("PUT"), await run("GET")


def wrk(url: str, seconds: int, connections: int = 50) -> float:
    curl("-T", "/dev/null", url + "tiny.txt")
    subprocess.run(["curl", "-sS", "-H", f"Authorization: {auth_header()}", "-T", "-",
                    url + "tiny.txt"], input=b"x" * 512, check=True, capture_output=True)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H",
                          f"Authorization: {auth_header()}", url + "tiny.txt"],
                         check=True, capture_output=True, text=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"wrk saw {non2xx.group(1)} errors from {url}:\n{out}")
    assert m, out
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    for tool in ("curl", "wrk", "apache2", "htpasswd"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    work = Path(tempfile.mkdtemp(prefix="rmail-bench-drive-", dir=REPO.parent))
    os.chmod(work, 0o755)
    big = work / "big.bin"
    with open(big, "wb") as f:
        for _ in range(args.size_mb):
            f.write(os.urandom(1 << 20))
    apache_base, apache_url = start_apache(work)
    results: dict[str, dict[str, float]] = {}
    try:
        rmail_proc, rmail_url = start_rmail(work)
    except BaseException:
        stop_apache(apache_base)
        raise
    try:
        for name, url in (("apache", apache_url), ("rmail", rmail_url)):
            r: dict[str, float] = {}
            r["large upload MB/s"], r["large download MB/s"] = large_file(url, big)
            r["small uploads/s"], r["small downloads/s"] = asyncio.run(
                small_files(url, args.files))
            r["wrk GET req/s"] = wrk(url, args.seconds)
            results[name] = r
            print(name, json.dumps({k: round(v, 1) for k, v in r.items()}), flush=True)
    finally:
        rmail_proc.send_signal(signal.SIGTERM)
        try:
            rmail_proc.wait(30)
        except subprocess.TimeoutExpired:
            rmail_proc.kill()
        stop_apache(apache_base)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    targets = {"large upload MB/s": 0.7, "large download MB/s": 0.7, "wrk GET req/s": 0.5}
    print(f"\n| drive, {args.size_mb} MB / {args.files} x 4 KB | rmail | Apache mod_dav | "
          "ratio | target |")
    print("|---|---|---|---|---|")
    for key in results["rmail"]:
        a, b = results["rmail"][key], results["apache"][key]
        target = f">= {targets[key]}" if key in targets else "-"
        print(f"| {key} | {a:,.1f} | {b:,.1f} | {a / b:.2f} | {target} |")


if __name__ == "__main__":
    main()
