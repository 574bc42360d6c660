"""Cost of application passwords and of the auth log (issue 17), in one run, one process.

IMAP LOGIN + LOGOUT on fresh connections, rounds alternating so every kind sees the same
machine: (a) the master password, (b) an application password of the `imap` scope, (c) the
master password with the auth log switched off in the server process. Figures: the ratio of
median LOGIN times b/a (target <= 1.2: hash verification dominates, and the verification
cache applies to both), and the auth log's cost per login, (a - c), in milliseconds (target
<= 1 ms), beside the raw cost of one append measured on its own. A cold run (`--cold`) clears
the verified-password cache before every login, so each login pays its argon2 hash.

    .venv/bin/python bench/auth.py [--logins 300] [--rounds 3] [--cold]
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# Run as `python bench/auth.py`: the checkout first, and not bench/ itself, whose modules must
# never shadow the standard library's.
sys.path[:] = [str(REPO)] + [p for p in sys.path
                             if Path(p or ".").resolve() not in (REPO, REPO / "bench")]

from rmail.auth import apppasswords, passwords  # noqa: E402
from rmail.auth.passwords import hash_password  # noqa: E402
from rmail.config import LISTENER_NAMES, Config  # noqa: E402
from rmail.server import Server  # noqa: E402
from rmail.services import Services, build_services  # noqa: E402

DOMAIN = "bench.example"
MASTER = "bench master password"


def start(root: Path) -> tuple[Services, Server, threading.Event, threading.Thread, str]:
    listeners: dict[str, dict[str, object]] = {
        name: {"enabled": name == "imap", "port": 0} for name in LISTENER_NAMES}
    config = Config.from_dict({"hostname": "localhost", "mail_root": str(root),
                               "domains": [DOMAIN], "listeners": listeners, "workers": 1},
                              source="bench")
    core = build_services(config)
    core.accounts.create(DOMAIN, "user", hash_password(MASTER))
    asp, _ = apppasswords.create(core.accounts, DOMAIN, "user", "bench", ["imap"])
    box: dict[str, Any] = {}
    ready, stop = threading.Event(), threading.Event()

    async def main() -> None:
        server = Server(config, services={"core": core})
        await server.start()
        box["server"] = server
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await server.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    ready.wait(60)
    return core, box["server"], stop, thread, asp


def login_times(addr: tuple[str, int], password: str, n: int, cold: bool) -> list[float]:
    out = []
    for _ in range(n):
        if cold:
            with passwords._cache_lock:
                passwords._cache.clear()
        client = imaplib.IMAP4(*addr, timeout=60)
        t = time.perf_counter()
        client.login(f"user@{DOMAIN}", password)
        out.append(time.perf_counter() - t)
        client.logout()
    return out


def append_cost(core: Services, n: int = 2000) -> float:
    """Seconds per auth log append (the on-loop path: try_append)."""
    log = core.auth.authlog
    entry = log.make_entry({"action": "authentication", "result": "success",
                            "protocol": "imap", "scope": "imap", "asp": "", "ip": "127.0.0.1",
                            "userAgent": "bench"})
    t = time.perf_counter()
    for _ in range(n):
        log.try_append(DOMAIN, "user", entry)
    return (time.perf_counter() - t) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="clear the password cache first")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="rmail-bench-auth-") as tmp:
        core, server, stop, thread, asp = start(Path(tmp) / "store")
        addr = server.addresses["imap"]
        auth = core.auth
        real_try, real_append = auth.authlog.try_append, auth.authlog.append_entry
        n = args.logins if not args.cold else max(10, args.logins // 10)
        times: dict[str, list[float]] = {"master": [], "asp": [], "nolog": []}
        try:
            login_times(addr, MASTER, 5, False)  # warm up
            login_times(addr, asp, 5, False)
            for _ in range(args.rounds):
                times["master"] += login_times(addr, MASTER, n, args.cold)
                times["asp"] += login_times(addr, asp, n, args.cold)
                auth.authlog.try_append = lambda *a, **k: True  # type: ignore[method-assign]
                auth.authlog.append_entry = lambda *a, **k: None  # type: ignore[method-assign]
                try:
                    times["nolog"] += login_times(addr, MASTER, n, args.cold)
                finally:
                    auth.authlog.try_append = real_try  # type: ignore[method-assign]
                    auth.authlog.append_entry = real_append  # type: ignore[method-assign]
            per_append = append_cost(core)
        finally:
            stop.set()
            thread.join(60)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"IMAP LOGIN median ({'cold: argon2 every time' if args.cold else 'warm cache'}), "
          f"{len(times['master'])} logins each:")
    print(f"  master password   {med['master']:.3f} ms")
    print(f"  app password      {med['asp']:.3f} ms")
    print(f"  master, no log    {med['nolog']:.3f} ms")
    print(f"app password / master password: {med['asp'] / med['master']:.2f}")
    print(f"auth log per login (master - no log): {med['master'] - med['nolog']:.3f} ms; "
          f"one append alone: {per_append * 1e6:.1f} us")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
