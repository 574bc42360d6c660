"""Large drive uploads to several rmail servers and Apache mod_dav, interleaved, with the CPU
and page faults of every server process per MB (issue 14: does `workers: "auto"` cost more per
upload than `workers: 1`, and where).

`bench/drive.py` times three uploads per server; on this shared VM one upload's CPU per MB
swings 2-3x between identical uploads, so a figure from one run says little about a change.
This script runs all contenders at once and, round after round, uploads the same file to each
in a rotating order (nobody always goes first), deleting each round's files so the page cache
does not grow through the run (`--grow` keeps them, as `bench/drive.py` does: then every upload
needs new page cache, which on this VM is where large writes cost most). Per upload it prints
MB/s, the CPU (utime+stime from /proc/PID/stat) per MB and the minor page faults per MB of each
process (supervisor first), then the medians and each server's per-round ratio to Apache
(paired: same moment).

    .venv/bin/python bench/drive_workers.py [--rounds 8] [--size-mb 50]
        [--servers 1,auto] [--baseline /path/to/other/checkout] [--grow]

`--baseline DIR` adds the same servers started from another checkout (named `base-1`,
`base-auto`): an A/B of a change, old and new measured in the same rounds.
Needs Debian's `apache2` and `curl`; not run by CI.
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
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from bench.common import (
    free_port,
    listeners,
    load,
    process_tree,
    say,
    stop_process,
    wait_port,
    write_config,
)
from bench.drive import (
    DOMAIN,
    PASSWORD,
    USER,
    curl,
    first_request,
    make_certificate,
    start_apache,
    stop_apache,
    wait_ready,
)
from rmail import auth

TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> tuple[float, int]:
    """(utime + stime in seconds, minor faults) of one process; zeros once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0
    return (int(fields[11]) + int(fields[12])) / TICK, int(fields[7])


@dataclass
class Contender:
    name: str
    url: str
    pid: int
    proc: subprocess.Popen[bytes] | None = None
    runs: list[tuple[float, float, float]] = field(default_factory=list)  # MB/s, ms/MB, flt/MB


def start_rmail(work: Path, name: str, checkout: Path, workers: str) -> Contender:
    root = work / f"store-{name}"
    asyncio.run(auth.create_user(root, USER, DOMAIN, PASSWORD, quota_mb=1024 * 1024))
    port = free_port()
    config = write_config(work / f"{name}.json", {
        "hostname": "localhost", "mail_root": str(root), "domains": [DOMAIN],
        "listeners": listeners(http={"port": port, "tls": False, "access_log": False}),
        "workers": int(workers) if workers.isdigit() else workers})
    with open(work / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, str(checkout / "bin" / "rmail"), "--config", str(config), "serve"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(checkout)})
    wait_port(port, proc)
    wait_ready(f"http://127.0.0.1:{port}/healthz")
    url = f"http://127.0.0.1:{port}/drive/"
    first_request(url)  # the password is verified once per client, not per upload
    return Contender(name, url, proc.pid, proc)


def upload(c: Contender, big: Path, name: str, mb: float) -> str:
    """One timed upload; records (MB/s, CPU ms/MB, faults/MB) and returns the per-process
    detail ("cpu/faults" per MB of each process, the parent first)."""
    pids = process_tree(c.pid)
    before = {p: proc_stat(p) for p in pids}
    t = time.perf_counter()
    code = curl("-T", str(big), "-o", "/dev/null", "-w", "%{http_code}", c.url + name)
    elapsed = time.perf_counter() - t
    after = {p: proc_stat(p) for p in pids}
    assert code in ("200", "201", "204"), f"{c.name}: {code}"
    cpu = {p: (after[p][0] - before[p][0]) * 1000 / mb for p in pids}
    flt = {p: (after[p][1] - before[p][1]) / mb for p in pids}
    c.runs.append((mb / elapsed, sum(cpu.values()), sum(flt.values())))
    return " ".join(f"{cpu[p]:.1f}/{flt[p]:.0f}" for p in pids) if c.proc else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--size-mb", type=int, default=50)
    ap.add_argument("--servers", default="1,auto", help="rmail `workers` values to start")
    ap.add_argument("--baseline", type=Path, help="another checkout to start the same servers from")
    ap.add_argument("--grow", action="store_true",
                    help="keep every round's files, so the page cache grows as in bench/drive.py")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    for tool in ("curl", "apache2", "htpasswd", "openssl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    work = Path(tempfile.mkdtemp(prefix="rmail-bench-drive-workers-", dir=REPO.parent))
    os.chmod(work, 0o755)
    big = work / "big.bin"
    with open(big, "wb") as f:
        for _ in range(args.size_mb):
            f.write(os.urandom(1 << 20))
    mb = big.stat().st_size / 1e6
    contenders: list[Contender] = []
    apache_base = None
    try:
        checkouts = [("", REPO)] + ([("base-", args.baseline.resolve())] if args.baseline else [])
        for prefix, checkout in checkouts:
            for workers in args.servers.split(","):
                contenders.append(start_rmail(work, f"{prefix}{workers}", checkout, workers))
        apache_base, urls = start_apache(work, make_certificate(work))
        first_request(urls["http"])
        apache = Contender("apache", urls["http"],
                           int((apache_base / "httpd.pid").read_text().strip()))
        contenders.append(apache)
        say(f"load average before: {load()}; per process: CPU ms/MB / minor faults per MB, "
            "the supervisor (or the only process) first")
        for i in range(args.rounds):
            turn = contenders[i % len(contenders):] + contenders[:i % len(contenders)]
            detail = {c.name: upload(c, big, f"big-{i}.bin", mb) for c in turn}
            say(f"round {i} (load {load()}): " + " | ".join(
                f"{c.name} {c.runs[-1][0]:.0f} MB/s {c.runs[-1][1]:.1f} ms/MB "
                f"{c.runs[-1][2]:.0f} flt/MB [{detail[c.name]}]" for c in contenders))
            for c in contenders if not args.grow else ():
                curl("-X", "DELETE", "-o", "/dev/null", c.url + f"big-{i}.bin")
        say(f"load average after: {load()}")
        say(f"\n| {args.size_mb} MB upload x {args.rounds}, interleaved | MB/s (median) | "
            "CPU ms/MB (median) | faults/MB (median) | ratio to Apache, median of rounds |")
        say("|---|---|---|---|---|")
        for c in contenders:
            ratio = statistics.median(r[0] / a[0] for r, a in zip(c.runs, apache.runs, strict=True))
            say(f"| {c.name} | {statistics.median(r[0] for r in c.runs):,.0f} | "
                f"{statistics.median(r[1] for r in c.runs):.2f} | "
                f"{statistics.median(r[2] for r in c.runs):.0f} | {ratio:.2f} |")
    finally:
        for c in contenders:
            if c.proc is not None:
                stop_process(c.proc)
        if apache_base is not None:
            stop_apache(apache_base)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
