"""Provisioning benchmark (issue 19, "Performance"): one run prints three figures and a summary.

1. Applying a document of 10,000 accounts and 5,000 aliases to an empty store the first time
   (`rmail provision FILE`, a fresh process, timed from outside). Target <= 60 s. Beside it,
   the per-account path it replaces (`Accounts.create` one by one, as `rmail user add` does)
   measured on a sample in the same run, as seconds per account and as the ratio.
2. Applying the same document again (nothing changes). Target <= 2 s.
3. One REST change visible to SMTP: `POST /mail/account/` on a running server holding the
   document's accounts, then `RCPT TO`
   the new address on an SMTP session opened before; the time from the 201 to the RCPT's 250
   (the first RCPT must already succeed: no cache is older than one request). Target <= 100 ms.
   Beside it, the same RCPT round trip for an account that existed all along.

Absolute times on a shared machine are noise: the load average is printed with each figure.

    .venv/bin/python bench/provisioning.py [--accounts N] [--aliases N] [--smoke] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# run as `python bench/provisioning.py`: no bench module may shadow the stdlib
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import say  # noqa: E402
from rmail.config import LISTENER_NAMES, Config  # noqa: E402
from rmail.provisioning.apply import Provisioner  # noqa: E402
from rmail.provisioning.keys import generate_key  # noqa: E402
from rmail.store.accounts import Accounts  # noqa: E402

HASH = "$1$9hW1N3SC$J6vfo890zc50GC1jYHP211"
DOMAINS = 10
TARGET_FIRST = 60.0
TARGET_UNCHANGED = 2.0
TARGET_VISIBLE_MS = 100.0


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def build_document(accounts: int, aliases: int) -> bytes:
    doc: dict[str, dict[str, list[dict[str, str]]]] = {}
    for i in range(accounts):
        domain = f"d{i % DOMAINS}.example"
        doc.setdefault(domain, {"account": [], "alias": []})["account"].append(
            {"name": f"user{i}", "password": HASH})
    for i in range(aliases):
        domain = f"d{i % DOMAINS}.example"
        a, b = (i % accounts), ((i + 1) % accounts)
        doc.setdefault(domain, {"account": [], "alias": []})["alias"].append(
            {"name": f"alias{i}", "to": f"user{a}@d{a % DOMAINS}.example,"
                                        f"user{b}@d{b % DOMAINS}.example"})
    return json.dumps(doc).encode()


def run_cli(config_file: Path, doc: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, the summary line)."""
    command = [sys.executable, "-m", "rmail", "--config", str(config_file), "provision",
               str(doc)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False,
                          timeout=3600)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"rmail provision failed: {proc.stderr[-2000:]}")
    return elapsed, cpu, proc.stdout.strip().splitlines()[-1]


def per_account_path(root: Path, sample: int) -> float:
    """Seconds per account through `Accounts.create`, one by one (the peer of figure 1)."""
    accounts = Accounts(root)
    accounts.add_domain("peer.example")
    started = time.perf_counter()
    for i in range(sample):
        accounts.create("peer.example", f"peer{i}", HASH)
    return (time.perf_counter() - started) / sample


async def rest_to_smtp(root: Path, rounds: int) -> tuple[list[float], list[float]]:
    """(ms from 201 to the new address's RCPT 250, ms of an RCPT for an old address)."""
    import aiohttp

    from rmail.server import Server
    from rmail.services import build_services
    from rmail.tls import client_context_trusting

    key, key_hash = generate_key()
    listeners: dict[str, dict[str, object]] = {n: {"enabled": n in ("smtp", "http"), "port": 0}
                                               for n in LISTENER_NAMES}
    config = Config.from_dict({"hostname": "localhost", "mail_root": str(root),
                               "domains": ["rest.example"], "listeners": listeners,
                               "provisioning": {"api_keys": [key_hash]}})
    server = Server(config, services={"core": build_services(config)})
    await server.start()
    fresh: list[float] = []
    old: list[float] = []
    try:
        assert server.cert_path is not None
        context = client_context_trusting(server.cert_path)
        host, port = server.addresses["smtp"]
        smtp = await asyncio.to_thread(smtplib.SMTP, host, port, timeout=60)
        await asyncio.to_thread(smtp.ehlo)
        base = server.url().rstrip("/")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
            for i in range(rounds + 1):
                async with http.post(base + "/mail/account/", ssl=context, data={
                        "name": f"new{i}", "domain": "rest.example", "password": "pw"}) as r:
                    await r.read()
                    assert r.status == 201, r.status
                t0 = time.perf_counter()
                await asyncio.to_thread(smtp.mail, "someone@example.net")
                code, _ = await asyncio.to_thread(smtp.rcpt, f"new{i}@rest.example")
                t1 = time.perf_counter()
                if code != 250:
                    raise SystemExit(f"RCPT for a just-created account got {code}")
                await asyncio.to_thread(smtp.rset)
                t2 = time.perf_counter()
                await asyncio.to_thread(smtp.mail, "someone@example.net")
                code, _ = await asyncio.to_thread(smtp.rcpt, "new0@rest.example")
                t3 = time.perf_counter()
                await asyncio.to_thread(smtp.rset)
                if i:  # the first round warms the caches
                    fresh.append((t1 - t0) * 1000)
                    old.append((t3 - t2) * 1000)
        await asyncio.to_thread(smtp.quit)
    finally:
        await server.stop()
    return fresh, old


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--accounts", type=int, default=10_000)
    p.add_argument("--aliases", type=int, default=5_000)
    p.add_argument("--sample", type=int, default=200, help="accounts for the peer path")
    p.add_argument("--rounds", type=int, default=20, help="REST changes timed")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (tests)")
    p.add_argument("--dir", type=Path, default=None)
    args = p.parse_args()
    if args.smoke:
        args.accounts, args.aliases, args.sample, args.rounds = 50, 20, 5, 3
    work = Path(tempfile.mkdtemp(prefix="rmail-bench-prov-", dir=args.dir))
    try:
        say(f"# Provisioning benchmark ({args.accounts} accounts, {args.aliases} aliases)")
        command = " ".join(["python", "bench/provisioning.py", *sys.argv[1:]])
        say(f"Command: `{command}`")
        doc = work / "doc.json"
        doc.write_bytes(build_document(args.accounts, args.aliases))
        config_file = work / "config.json"
        config_file.write_text(json.dumps({"hostname": "localhost",
                                           "mail_root": str(work / "store")}))
        first, first_cpu, summary = run_cli(config_file, doc)
        say(f"first apply: `rmail provision` {first:.2f} s wall, {first_cpu:.2f} s CPU "
            f"({summary}); {load()}")
        again_cli, again_cli_cpu, summary2 = run_cli(config_file, doc)
        provisioner = Provisioner(Accounts(work / "store"), grace_days=7)
        started, cpu_started = time.perf_counter(), time.process_time()
        report = provisioner.apply(doc.read_bytes(), str(doc))
        again, again_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        assert report.count("create") + report.count("update") == 0, report.summary
        say(f"unchanged apply: `rmail provision` {again_cli:.2f} s wall, {again_cli_cpu:.2f} s "
            f"CPU (with interpreter start-up); the apply itself {again:.2f} s wall, "
            f"{again_cpu:.2f} s CPU ({summary2}); {load()}")
        per = per_account_path(work / "peer", args.sample)
        bulk_per = first / (args.accounts + args.aliases)
        say(f"per-account path: {per * 1000:.2f} ms/account over {args.sample}; bulk "
            f"{bulk_per * 1000:.2f} ms per entry; per-account/bulk = {per / bulk_per:.1f}; "
            f"{load()}")
        # on the store the document filled: a change must not cost a rescan of every account
        fresh, old = asyncio.run(rest_to_smtp(work / "store", args.rounds))
        ratio = statistics.median(fresh) / max(statistics.median(old), 1e-6)
        say(f"REST 201 -> RCPT 250: median {statistics.median(fresh):.1f} ms, max "
            f"{max(fresh):.1f} ms; RCPT of an old account median "
            f"{statistics.median(old):.1f} ms; new/old = {ratio:.2f}; {load()}")
        say("")
        say("## Summary")
        say("| Figure | Result | Target | |")
        say("|---|---|---|---|")
        rows = [("First apply (wall)", f"{first:.1f} s", f"<= {TARGET_FIRST:.0f} s",
                 first <= TARGET_FIRST),
                ("Unchanged apply (wall / CPU)", f"{again:.2f} s / {again_cpu:.2f} s",
                 f"<= {TARGET_UNCHANGED:.0f} s", again <= TARGET_UNCHANGED),
                ("REST change visible to SMTP (max)", f"{max(fresh):.1f} ms",
                 f"<= {TARGET_VISIBLE_MS:.0f} ms", max(fresh) <= TARGET_VISIBLE_MS)]
        for name, result, target, ok in rows:
            say(f"| {name} | {result} | {target} | {'met' if ok else 'MISSED'} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
