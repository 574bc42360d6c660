"""Webmail calendar benchmark (issue 12, "Performance"): the month view of a 10,000-event store
against a 100-event one, in the same server and the same run.

One `rmail` app (in this process, served on loopback by aiohttp) holds two users:

- `small`: 100 events in one calendar around the shown month (95 one-off events, 5 weekly
  series);
- `big`: 10,000 events in 5 calendars, 500 of them recurring series: the same 100 events as
  `small` (spread over the 5 calendars) plus 9,900 more over ten years around it (9,405 one-off
  events, 495 bounded series that end before or start after the shown month, a few daily
  ones among them).

So both month views draw the same occurrences, and the ratio big/small shows what the size of
the store costs a view (target ≤ 1.5, and the big view's median ≤ 50 ms). A third user,
`spread`, has 10,000 events spread evenly over ten years with 500 series of which 50 never end
(every month shows about 80 one-off events and every open series): its figure is printed for
information. Requests alternate between the users; the first request of each is a warm-up
(it parses the month's objects into the per-process cache). The machine's load average is
printed with the figures: on a shared machine only the ratio of one run means something.

    .venv/bin/python bench/calendar_ui.py [--requests N] [--dir DIR] [--keep]
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import datetime as dt  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import aiohttp  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rmail.auth import create_user  # noqa: E402
from rmail.config import LISTENER_NAMES, Config  # noqa: E402
from rmail.ical.meta import object_meta  # noqa: E402
from rmail.ical.parse import parse_object  # noqa: E402
from rmail.server import Server  # noqa: E402
from rmail.services import build_services  # noqa: E402
from rmail.store.calendars import CalendarStore  # noqa: E402

DOMAIN, PASSWORD = "bench.example", "bench-password"
MONTH = dt.date(2026, 12, 1)
SHOWN = "/webmail/calendar/month?date=2026-12-10"


def event(uid: str, start: dt.datetime, minutes: int, rule: str = "") -> bytes:
    end = start + dt.timedelta(minutes=minutes)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20260101T000000Z",
             f"DTSTART;TZID=Europe/Berlin:{start:%Y%m%dT%H%M%S}",
             f"DTEND;TZID=Europe/Berlin:{end:%Y%m%dT%H%M%S}", f"SUMMARY:Event {uid}"]
    if rule:
        lines.append(f"RRULE:{rule}")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


def month_events(rng: random.Random) -> list[tuple[str, bytes]]:
    """The 100 events of the shown month (the `small` user's whole calendar)."""
    out = []
    for i in range(95):
        start = dt.datetime(2026, 12, 1 + rng.randrange(31), 8 + rng.randrange(10),
                            rng.choice((0, 30)))
        out.append((f"m{i}", event(f"m{i}", start, 60)))
    for i in range(5):
        start = dt.datetime(2026, 11, 2 + i, 9 + i, 0)
        out.append((f"ms{i}", event(f"ms{i}", start, 45, "FREQ=WEEKLY;COUNT=12")))
    return out


def elsewhere(rng: random.Random, n_single: int, n_series: int) -> list[tuple[str, bytes]]:
    """Events of ten years around the month that do not reach into it."""
    out = []
    lo, hi = dt.datetime(2021, 1, 1), dt.datetime(2031, 12, 1)
    gap = (dt.datetime(2026, 11, 20), dt.datetime(2027, 1, 10))
    while len(out) < n_single:
        start = lo + dt.timedelta(days=rng.randrange((hi - lo).days), hours=rng.randrange(8, 18))
        if gap[0] <= start <= gap[1]:
            continue
        out.append((f"s{len(out)}", event(f"s{len(out)}", start, 60)))
    series = 0
    while series < n_series:
        freq, count, step = rng.choice((("WEEKLY", 20, 7), ("DAILY", 10, 1),
                                        ("MONTHLY", 12, 31)))
        start = lo + dt.timedelta(days=rng.randrange((hi - lo).days), hours=rng.randrange(8, 18))
        end = start + dt.timedelta(days=count * step)
        if not (end < gap[0] or start > gap[1]):
            continue
        out.append((f"r{series}", event(f"r{series}", start, 30, f"FREQ={freq};COUNT={count}")))
        series += 1
    return out


def spread(rng: random.Random) -> list[tuple[str, bytes]]:
    out = []
    lo = dt.datetime(2021, 6, 1)
    for i in range(9_500):
        start = lo + dt.timedelta(days=rng.randrange(3650), hours=rng.randrange(8, 18))
        out.append((f"p{i}", event(f"p{i}", start, 60)))
    for i in range(500):
        start = lo + dt.timedelta(days=rng.randrange(3650), hours=rng.randrange(8, 18))
        rule = "FREQ=WEEKLY" if i < 50 else f"FREQ=WEEKLY;COUNT={rng.randrange(4, 40)}"
        out.append((f"q{i}", event(f"q{i}", start, 30, rule)))
    return out


def store(mail_root: Path, user: str, events: list[tuple[str, bytes]], calendars: int) -> None:
    home = CalendarStore(mail_root).home(DOMAIN, user)
    home.ensure_defaults()
    names = ["default"] + [f"cal{i}" for i in range(1, calendars)]
    for name in names[1:]:
        home.create_calendar(name, color="#2e7d32ff")
    batches: dict[str, list[tuple[str, bytes, dict[str, object]]]] = {n: [] for n in names}
    for i, (uid, data) in enumerate(events):
        batches[names[i % calendars]].append((f"{uid}.ics", data,
                                              object_meta(parse_object(data))))
    for name, batch in batches.items():
        home.get(name).put_many(batch)


async def login(session: aiohttp.ClientSession, base: str, user: str) -> None:
    async with session.get(base + "/webmail/login") as resp:
        page = await resp.text()
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    fields.update(username=f"{user}@{DOMAIN}", password=PASSWORD)
    async with session.post(base + "/webmail/login", data=fields,
                            allow_redirects=False) as resp:
        if resp.status != 303:
            raise RuntimeError(f"login of {user} failed: {resp.status}")


async def timed(session: aiohttp.ClientSession, url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    async with session.get(url, allow_redirects=False) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url}: {resp.status}")
    return time.perf_counter() - t0, body.count(b'class="cal-event')


async def run(args: argparse.Namespace, work: Path) -> None:
    rng = random.Random(12)
    mail_root = work / "mailstore"
    listeners = {n: {"enabled": False, "port": 0} for n in LISTENER_NAMES}
    listeners["http"] = {"enabled": True, "host": "127.0.0.1", "port": 0, "tls": False}
    config = Config.from_dict({"hostname": "localhost", "mail_root": str(mail_root),
                               "domains": [DOMAIN], "listeners": listeners},
                              source="bench")
    users = ("small", "big", "spread")
    for user in users:
        await create_user(str(mail_root), user, DOMAIN, PASSWORD)
    t0 = time.perf_counter()
    shown = month_events(rng)
    store(mail_root, "small", shown, 1)
    store(mail_root, "big", shown + elsewhere(rng, 9_405, 495), 5)
    store(mail_root, "spread", spread(rng), 5)
    print(f"stores built in {time.perf_counter() - t0:.0f} s "
          f"(small 100, big 10,000, spread 10,000 events)")
    server = Server(config, services={"core": build_services(config)})
    await server.start()
    try:
        base = server.url().rstrip("/")
        sessions = {u: aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
                    for u in users}
        try:
            for user, session in sessions.items():
                await login(session, base, user)
            drawn: dict[str, int] = {}
            for user, session in sessions.items():  # warm-up: parse the month once
                _, drawn[user] = await timed(session, base + SHOWN)
            times: dict[str, list[float]] = {u: [] for u in users}
            for _ in range(args.requests):
                for user, session in sessions.items():
                    took, _ = await timed(session, base + SHOWN)
                    times[user].append(took)
        finally:
            for session in sessions.values():
                await session.close()
    finally:
        await server.stop()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    med = {u: statistics.median(t) * 1000 for u, t in times.items()}
    print(f"load average {load}; {args.requests} requests each, alternating\n")
    print("| month view (GET " + SHOWN + ") | events in store | occurrences drawn "
          "| median ms |")
    print("|---|---|---|---|")
    for user, label in (("small", "100"), ("big", "10,000 (500 series)"),
                        ("spread", "10,000 spread (500 series, 50 open)")):
        print(f"| {user} | {label} | {drawn[user]} | {med[user]:.1f} |")
    print(f"\nbig / small = {med['big'] / med['small']:.2f} (target <= 1.5); "
          f"big median {med['big']:.1f} ms (target <= 50)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-calendar-", dir=args.dir or REPO.parent))
    try:
        asyncio.run(run(args, work))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
