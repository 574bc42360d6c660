"""Idle memory per process (issue 14: "idle server with `workers: "auto"` <= 80 MB per worker").

Starts `rmail serve` with every listener enabled (plain, on free loopback ports) and the number
of workers `RMAIL_BENCH_WORKERS` asks for (`auto`, the default, or `1`), makes every front end
do its first piece of work (an IMAP login and SELECT, a POP3 login, an SMTP delivery, an
authenticated `GET /folders` and a drive `PROPFIND`, each through a fresh connection so they
spread over the workers), waits until the processes settle, then prints each process's
resident set (`VmRSS`), proportional set (`Pss`: shared library pages divided among the
processes that map them) and private memory (`Private_*`), in MB.

    .venv/bin/python bench/idle_rss.py [--settle 5] [--keep]

Not run by CI.
"""

# ruff: noqa: E402  (imports follow the sys.path fix below)
from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/idle_rss.py`, this file's directory comes first on sys.path, where a
# module named like a standard one would shadow it: drop it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
REPO = _HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import argparse
import asyncio
import base64
import imaplib
import os
import poplib
import shutil
import smtplib
import tempfile
import time
import urllib.request

import psutil

from bench import workers as bench_workers
from bench.common import free_port, serve_rmail, stop_process, wait_port, write_config
from rmail import auth

DOMAIN, USER, PASSWORD = "bench.example", "bench", "bench-password"
LOGIN = f"{USER}@{DOMAIN}"
LISTENERS = ("smtp", "submission", "submissions", "lmtp", "imap", "imaps", "pop3", "pop3s",
             "http")
TARGET_MB = 80.0


def memory(pid: int) -> dict[str, float]:
    """VmRSS, Pss and private memory of one process, in MB (from /proc/PID/smaps_rollup)."""
    fields: dict[str, float] = {"rss": 0.0, "pss": 0.0, "private": 0.0}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[2] != "kB":
            continue
        kb = int(parts[1]) / 1024
        if parts[0] == "Rss:":
            fields["rss"] = kb
        elif parts[0] == "Pss:":
            fields["pss"] = kb
        elif parts[0] in ("Private_Clean:", "Private_Dirty:"):
            fields["private"] += kb
    return fields


def exercise(ports: dict[str, int]) -> None:
    """One piece of work per front end, each on a new connection, twice (so with two
    workers each worker is likely to have served each protocol once)."""
    basic = "Basic " + base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
    for _ in range(2):
        imap = imaplib.IMAP4("127.0.0.1", ports["imap"])
        imap.login(LOGIN, PASSWORD)
        imap.select("INBOX")
        imap.logout()
        pop = poplib.POP3("127.0.0.1", ports["pop3"])
        pop.user(LOGIN)
        pop.pass_(PASSWORD)
        pop.quit()
        with smtplib.SMTP("127.0.0.1", ports["smtp"]) as smtp:
            smtp.sendmail("someone@example.net", [LOGIN],
                          b"From: someone@example.net\r\nSubject: hello\r\n\r\nbody\r\n")
        for method, path in (("GET", "/folders"), ("PROPFIND", "/drive/")):
            req = urllib.request.Request(f"http://127.0.0.1:{ports['http']}{path}",
                                         method=method, headers={"Authorization": basic,
                                                                 "Depth": "0"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                resp.read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to wait when idle")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rmail-bench-rss-", dir=REPO.parent))
    root = work / "store"
    asyncio.run(auth.create_user(root, USER, DOMAIN, PASSWORD))
    ports = {name: free_port() for name in LISTENERS}
    listeners = {name: {"enabled": True, "host": "127.0.0.1", "port": port}
                 for name, port in ports.items()}
    listeners["http"]["tls"] = False
    proc = serve_rmail(write_config(work / "rmail.json", {
        "hostname": "localhost", "mail_root": str(root), "domains": [DOMAIN],
        "listeners": listeners, "workers": bench_workers()}))
    try:
        for port in ports.values():
            wait_port(port, proc)
        exercise(ports)
        time.sleep(args.settle)
        parent = psutil.Process(proc.pid)
        procs = [parent, *parent.children(recursive=True)]
        rows = [(p.name(), memory(p.pid)) for p in procs]
    finally:
        stop_process(proc)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average: {os.getloadavg()}")
    print(f"\n| idle, workers: {bench_workers()} | RSS MB | PSS MB | private MB |")
    print("|---|---|---|---|")
    for name, mem in rows:
        print(f"| {name} | {mem['rss']:.0f} | {mem['pss']:.0f} | {mem['private']:.0f} |")
    worst = max(mem["rss"] for _, mem in rows)
    print(f"\nlargest RSS of one process: {worst:.0f} MB (target <= {TARGET_MB:.0f} MB)")


if __name__ == "__main__":
    main()
