"""Drive benchmark (issue 6, "Performance"): rmail's drive against Apache mod_dav, same run.

1. Upload and download of one large file (200 MB) with `curl` (PUT -T / GET -o /dev/null),
   `--rounds` times, the two servers alternating; the median is the figure, and the CPU the
   server's processes used during the uploads is printed beside it (ms per MB).
   Target: rmail/Apache >= 0.7 for throughput.
2. 2,000 small files (4 KB) uploaded and downloaded by 8 concurrent aiohttp clients (plain
   HTTP only).
3. `wrk` GET of one small file with Basic auth. Target: rmail/Apache >= 0.5 requests/s.

Both servers run on loopback with Basic auth, first over plain HTTP, then over HTTPS (the same
self-signed certificate; `--scheme` picks one), and both write to the same disk. Each client
session starts with one authenticated request that is timed on its own ("first request"): a
server verifies a password once per client (rmail with argon2id, tens of milliseconds by
design; Apache with the `{SHA}` entry the bench gives it, microseconds), then remembers it, so
that cost belongs to a login, not to each transfer. rmail makes every upload durable before it
answers (fsync of the data, the indexes and the drive's meta file); Apache mod_dav does not
fsync at all, so uploads of small files measure that difference more than anything else.

    .venv/bin/python bench/drive.py [--size-mb 200] [--files 2000] [--seconds 10]
                                    [--rounds 3] [--scheme both|http|https] [--keep]

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
import statistics
import subprocess
import tempfile
import time

import aiohttp

from bench import workers as bench_workers
from bench.common import (
    cpu_seconds,
    free_port,
    listeners,
    serve_rmail,
    stop_process,
    wait_port,
    write_config,
)
from rmail import auth

DOMAIN, USER, PASSWORD = "bench.example", "bench", "bench-password"
LOGIN = f"{USER}@{DOMAIN}"
MODULES = Path("/usr/lib/apache2/modules")


# -- the two servers --------------------------------------------------------------------------
def make_certificate(work: Path) -> tuple[Path, Path]:
    """One self-signed pair both servers present over HTTPS."""
    cert, key = work / "tls" / "cert.pem", work / "tls" / "key.pem"
    cert.parent.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    os.chmod(key, 0o644)  # Apache's children read it as www-data
    return cert, key


def start_rmail(work: Path, tls: tuple[Path, Path] | None
                ) -> tuple[subprocess.Popen[bytes], str]:
    root = work / "rmail-store"
    if not root.exists():
        asyncio.run(auth.create_user(root, USER, DOMAIN, PASSWORD, quota_mb=1024 * 1024))
    port = free_port()
    # Apache below keeps no access log either (ErrorLog only): compare the same work.
    data: dict[str, object] = {
        "hostname": "localhost", "mail_root": str(root), "domains": [DOMAIN],
        "listeners": listeners(http={"port": port, "tls": tls is not None, "access_log": False}),
        "workers": bench_workers()}
    if tls is not None:
        data["tls"] = {"cert": str(tls[0]), "key": str(tls[1])}
    proc = serve_rmail(write_config(work / "rmail.json", data))
    wait_port(port, proc)
    scheme = "https" if tls is not None else "http"
    wait_ready(f"{scheme}://127.0.0.1:{port}/healthz")
    return proc, f"{scheme}://127.0.0.1:{port}/drive/"


def wait_ready(url: str, timeout: float = 120) -> None:
    """Until ten connections in a row are answered at once: the port accepts as soon as it is
    bound, but each worker serves only once it has started, so a client's first request
    could otherwise measure a worker's start."""
    end, answered = time.monotonic() + timeout, 0
    while answered < 10:
        if time.monotonic() > end:
            raise SystemExit(f"{url} does not answer")
        try:
            out = subprocess.run(["curl", "-sk", "-m", "1", "-o", "/dev/null", "-w",
                                  "%{http_code}", url], capture_output=True, text=True)
            answered = answered + 1 if out.stdout == "200" else 0
        except OSError:
            answered = 0
        if not answered:
            time.sleep(0.2)


def start_apache(work: Path, tls: tuple[Path, Path]) -> tuple[Path, dict[str, str]]:
    """Apache on two ports: plain HTTP and HTTPS (mod_ssl); {scheme: url}."""
    if shutil.which("apache2") is None:
        raise SystemExit("apache2 is not installed (apt-get install apache2)")
    base = work / "apache"
    dav = base / "www" / "dav"
    (base / "logs").mkdir(parents=True)
    dav.mkdir(parents=True)
    subprocess.run(["htpasswd", "-bcs", str(base / "htpasswd"), LOGIN, PASSWORD],
                   check=True, capture_output=True)
    port, tls_port = free_port(), free_port()
    mods = ["mpm_event", "authn_core", "authn_file", "authz_core", "authz_user", "auth_basic",
            "dav", "dav_fs", "socache_shmcb", "ssl"]
    user = "www-data"
    subprocess.run(["chown", "-R", f"{user}:{user}", str(base)], check=False)
    conf = base / "httpd.conf"
    conf.write_text("\n".join([
        f"ServerRoot {base}", f"Listen 127.0.0.1:{port}", f"Listen 127.0.0.1:{tls_port}",
        "ServerName localhost",
        *[f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in mods],
        f"User {user}", f"Group {user}", f"PidFile {base}/httpd.pid",
        f"ErrorLog {base}/logs/error.log", "LogLevel warn", f"DavLockDB {base}/DavLock",
        "MaxRequestWorkers 150", "LimitRequestBody 0", f'DocumentRoot "{dav.parent}"',
        f'<Directory "{dav}">', "  Dav On", "  AuthType Basic", '  AuthName "bench"',
        f"  AuthUserFile {base}/htpasswd", "  Require valid-user", "</Directory>",
        f"SSLSessionCache shmcb:{base}/ssl_scache(512000)",
        f"<VirtualHost 127.0.0.1:{tls_port}>", "  SSLEngine on",
        f"  SSLCertificateFile {tls[0]}", f"  SSLCertificateKeyFile {tls[1]}",
        "</VirtualHost>", ""]))
    subprocess.run(["apache2", "-f", str(conf), "-k", "start"], check=True,
                   env={**os.environ, "APACHE_RUN_DIR": str(base), "APACHE_LOG_DIR":
                        str(base / "logs")})
    wait_port(port)
    wait_port(tls_port)
    for _ in range(100):  # written just after the sockets are bound
        if (base / "httpd.pid").exists():
            break
        time.sleep(0.1)
    return base, {"http": f"http://127.0.0.1:{port}/dav/",
                  "https": f"https://127.0.0.1:{tls_port}/dav/"}


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
    out = subprocess.run(["curl", "-sS", "-k", "-H", f"Authorization: {auth_header()}", *args],
                         check=True, capture_output=True, text=True)
    return out.stdout


def first_request(url: str) -> float:
    """Seconds for the first authenticated request of a client (a PROPFIND of the collection):
    the server verifies the password once, then recognises it."""
    t = time.perf_counter()
    code = curl("-X", "PROPFIND", "-H", "Depth: 0", "-o", "/dev/null", "-w", "%{http_code}", url)
    assert code in ("200", "207"), f"{url}: {code}"
    return time.perf_counter() - t


def large_file(url: str, path: Path, pids: list[int], name: str) -> tuple[float, float, float]:
    """(upload MB/s, download MB/s, server CPU ms per MB uploaded) with curl."""
    mb = path.stat().st_size / 1e6
    cpu = cpu_seconds(*pids)
    t = time.perf_counter()
    code = curl("-T", str(path), "-o", "/dev/null", "-w", "%{http_code}", url + name)
    up = time.perf_counter() - t
    cpu = cpu_seconds(*pids) - cpu
    assert code in ("200", "201", "204"), code
    t = time.perf_counter()
    code = curl("-o", "/dev/null", "-w", "%{http_code}", url + name)
    down = time.perf_counter() - t
    assert code == "200", code
    return mb / up, mb / down, cpu * 1000 / mb


async def small_files(url: str, n: int, workers: int = 8) -> tuple[float, float]:
    """(uploads/s, downloads/s) of `n` 4 KB files into one collection."""
    body = os.urandom(4096)
    hdrs = {"Authorization": auth_header()}
    conn = aiohttp.TCPConnector(limit=workers, ssl=False)
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
    subprocess.run(["curl", "-sS", "-k", "-H", f"Authorization: {auth_header()}", "-T", "-",
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


def measure(scheme: str, servers: dict[str, tuple[str, list[int]]], big: Path,
            args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Every figure of one scheme for both servers (the large transfers alternate)."""
    results: dict[str, dict[str, float]] = {name: {} for name in servers}
    for name, (url, _) in servers.items():
        results[name]["first request ms"] = first_request(url) * 1000
    rounds: dict[str, list[tuple[float, float, float]]] = {name: [] for name in servers}
    for i in range(args.rounds):
        for name, (url, pids) in servers.items():
            rounds[name].append(large_file(url, big, pids, f"big-{scheme}-{i}.bin"))
    for name, runs in rounds.items():
        r = results[name]
        r["large upload MB/s"] = statistics.median(u for u, _, _ in runs)
        r["large download MB/s"] = statistics.median(d for _, d, _ in runs)
        r["upload CPU ms/MB"] = statistics.median(c for _, _, c in runs)
    for name, (url, _) in servers.items():
        r = results[name]
        if scheme == "http" and args.files:
            r["small uploads/s"], r["small downloads/s"] = asyncio.run(
                small_files(url, args.files))
        r["wrk GET req/s"] = wrk(url, args.seconds)
        print(scheme, name, json.dumps({k: round(v, 1) for k, v in r.items()}), flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scheme", choices=("both", "http", "https"), default="both")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    for tool in ("curl", "wrk", "apache2", "htpasswd", "openssl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    work = Path(tempfile.mkdtemp(prefix="rmail-bench-drive-", dir=REPO.parent))
    os.chmod(work, 0o755)
    big = work / "big.bin"
    with open(big, "wb") as f:
        for _ in range(args.size_mb):
            f.write(os.urandom(1 << 20))
    tls = make_certificate(work)
    apache_base, apache_urls = start_apache(work, tls)
    apache_pid = int((apache_base / "httpd.pid").read_text().strip())
    schemes = ("http", "https") if args.scheme == "both" else (args.scheme,)
    results: dict[str, dict[str, dict[str, float]]] = {}
    print(f"load average before: {os.getloadavg()}", flush=True)
    try:
        for scheme in schemes:
            rmail_proc, rmail_url = start_rmail(work, tls if scheme == "https" else None)
            try:
                servers = {"apache": (apache_urls[scheme], [apache_pid]),
                           "rmail": (rmail_url, [rmail_proc.pid])}
                results[scheme] = measure(scheme, servers, big, args)
            finally:
                stop_process(rmail_proc)
    finally:
        stop_apache(apache_base)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")
    targets = {("http", "large upload MB/s"): 0.7, ("http", "large download MB/s"): 0.7,
               ("http", "wrk GET req/s"): 0.5}
    print(f"\n| drive, {args.size_mb} MB x median of {args.rounds} / {args.files} x 4 KB, "
          f"workers: {bench_workers()} | rmail | Apache mod_dav | ratio | target |")
    print("|---|---|---|---|---|")
    for scheme, res in results.items():
        for key in res["rmail"]:
            a, b = res["rmail"][key], res["apache"][key]
            target = f">= {targets[scheme, key]}" if (scheme, key) in targets else "-"
            # CPU is counted in clock ticks (10 ms): a small transfer can show none at all
            ratio = f"{a / b:.2f}" if b else "-"
            print(f"| {scheme} {key} | {a:,.1f} | {b:,.1f} | {ratio} | {target} |")


if __name__ == "__main__":
    main()
