"""Cost of delivery filters (issue 18): CPU per delivered message for a user with N filters
against a user with none, in one run, through the real pipeline and store (durable appends),
in one process.

Rounds alternate (no filters, filters, no filters, ...) so both see the same machine; the
figure is the ratio of the medians of CPU seconds per message (process CPU, all threads).
The filters are ``--filters`` header filters that do not match (the common case: most mail
passes every filter) plus one `text` filter that does (it makes the body be parsed), with a
`seen` action.

    .venv/bin/python bench/filters.py [--messages 1000] [--filters 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Run as `python bench/filters.py`: the checkout first, and not bench/ itself, whose modules
# must never shadow the standard library's.
sys.path[:] = [str(REPO)] + [p for p in sys.path
                             if Path(p or ".").resolve() not in (REPO, REPO / "bench")]

from rmail.auth.passwords import hash_password  # noqa: E402
from rmail.config import Config  # noqa: E402
from rmail.mail.filters import parse_filter  # noqa: E402
from rmail.services import Services, build_services  # noqa: E402

DOMAIN = "bench.example"
CONCURRENCY = 10


def message(i: int) -> bytes:
    body = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 60)[:3500]
    return (f"From: Sender {i} <sender{i}@example.net>\r\nTo: someone@{DOMAIN}\r\n"
            f"Subject: report number {i}\r\nMessage-ID: <{i}.{time.time_ns()}@example.net>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{body}\r\n").encode()


def setup(root: Path, filters: int) -> Services:
    config = Config.from_dict({"hostname": "bench.example", "mail_root": str(root),
                               "domains": [DOMAIN]}, source="bench")
    core = build_services(config)
    core.accounts.add_domain(DOMAIN, exist_ok=True)
    digest = hash_password("bench password")
    for user in ("plain", "filtered"):
        core.accounts.create(DOMAIN, user, digest, quota_mb=100_000)
    store = core.delivery.rules.store
    for n in range(filters):
        doc = {"query": {"from": f"nobody{n}@nowhere.example", "subject": f"never {n}"},
               "action": {"flag": True}}
        store.add_filter(DOMAIN, "filtered", lambda fid, d=doc: parse_filter(d, filter_id=fid))
    store.add_filter(DOMAIN, "filtered", lambda fid: parse_filter(
        {"query": {"text": "adipiscing"}, "action": {"seen": True}}, filter_id=fid))
    return core


async def deliver(core: Services, user: str, count: int, start: int) -> float:
    """CPU seconds per message for ``count`` deliveries to ``user``."""
    queue = list(range(start, start + count))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            report = await core.delivery.deliver_local(
                message(i), mail_from=f"sender{i}@example.net", recipients=[f"{user}@{DOMAIN}"])
            assert report.ok, report

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return (time.process_time() - cpu) / count


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="per round and user")
    parser.add_argument("--filters", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rmail-bench-filters-") as tmp:
        core = setup(Path(tmp) / "mailstore", args.filters)
        await deliver(core, "plain", 50, 0)  # warm caches and threads
        await deliver(core, "filtered", 50, 0)
        plain: list[float] = []
        filtered: list[float] = []
        for r in range(args.rounds):
            base = (r + 1) * args.messages
            plain.append(await deliver(core, "plain", args.messages, base))
            filtered.append(await deliver(core, "filtered", args.messages, base))
        seen = core.mail.mailbox(DOMAIN, "filtered").folder("INBOX").status()
        assert seen.unseen == 0, "the text filter should have marked every message seen"
        core.delivery.close()
        core.close()
    p, f = statistics.median(plain), statistics.median(filtered)
    load = os.getloadavg()
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"messages per round: {args.messages}, rounds: {args.rounds}, "
          f"filters: {args.filters} + 1 text filter")
    print(f"no filters:   {p * 1e6:8.0f} us CPU per message (rounds: "
          + ", ".join(f"{x * 1e6:.0f}" for x in plain) + ")")
    print(f"with filters: {f * 1e6:8.0f} us CPU per message (rounds: "
          + ", ".join(f"{x * 1e6:.0f}" for x in filtered) + ")")
    print(f"ratio with/without filters: {f / p:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
