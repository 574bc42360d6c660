"""CalDAV benchmark (issue 7, "Performance"): rmail against Radicale in the same run.

Both servers run as their own processes on loopback, driven by the same aiohttp client:

1. PUT of 2,000 events (8 concurrent clients).                       target rmail/Radicale >= 2
2. calendar-query with a one-month time range over a 10,000-event calendar that includes
   500 recurring (weekly) events.                                     target >= 5
3. sync-collection after one change in that calendar.                target >= 20, and flat:
   rmail's one-change sync is also timed on a 1,000-event calendar.

Printed figures are requests per second (PUT) or the median latency (query, sync) and the
ratio "how many times faster rmail is". Absolute numbers on a shared 2-core machine are noise;
the ratios of one run are the figure. Not run in CI.

    .venv/bin/python bench/caldav.py [--quick] [--dir DIR] [--keep]

Radicale comes from PyPI (`pip install radicale`, the `bench` extra); without it only rmail's
figures are printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python bench/caldav.py` puts bench/ first on sys.path, where a module named like a
# standard one would shadow it: run from the checkout root instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import base64  # noqa: E402
import importlib.util  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import aiohttp  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import free_port  # noqa: E402

USER, DOMAIN, PASSWORD = "bench", "bench.example", "bench-password"
CONCURRENCY = 8


def make_event(i: int, recurring: bool) -> str:
    day = 1 + (i % 28)
    month = 1 + (i // 28) % 12
    year = 2024 + (i // (28 * 12)) % 3
    start = f"{year}{month:02d}{day:02d}T{8 + i % 10:02d}0000Z"
    end = f"{year}{month:02d}{day:02d}T{9 + i % 10:02d}0000Z"
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//EN", "BEGIN:VEVENT",
             f"UID:ev-{i}", "DTSTAMP:20240101T000000Z", f"DTSTART:{start}", f"DTEND:{end}",
             f"SUMMARY:Event {i}"]
    if recurring:
        lines.append("RRULE:FREQ=WEEKLY")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


QUERY = """<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR">
<C:comp-filter name="VEVENT"><C:time-range start="20250301T000000Z" end="20250401T000000Z"/>
</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"""

SYNC = """<D:sync-collection xmlns:D="DAV:"><D:sync-token>{}</D:sync-token>
<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"""


# -- servers ---------------------------------------------------------------------------------
def start_rmail(base: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    code = f"""
import asyncio, sys
sys.path.insert(0, {str(REPO)!r})
from aiohttp import web
from rmail.auth import create_user
from rmail.config import Config, LISTENER_NAMES
from rmail.services import build_services
from rmail.web.app import create_app
root = {str(base / "rmail")!r}
listeners = {{n: {{"enabled": False, "port": 0}} for n in LISTENER_NAMES}}
config = Config.from_dict({{"hostname": "localhost", "mail_root": root,
                            "listeners": listeners}}, source="bench")
asyncio.run(create_user(root, {USER!r}, {DOMAIN!r}, {PASSWORD!r}))
web.run_app(create_app(config, core=build_services(config)), host="127.0.0.1", port={port},
            print=None)
"""
    proc = subprocess.Popen([sys.executable, "-c", code])
    return proc, f"http://127.0.0.1:{port}/caldav/{USER}/calendars/"


def start_radicale(base: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    folder = base / "radicale"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "users").write_text(f"{USER}@{DOMAIN}:{PASSWORD}\n")
    (folder / "config").write_text(f"""[server]
hosts = 127.0.0.1:{port}
[auth]
type = htpasswd
htpasswd_filename = {folder / "users"}
htpasswd_encryption = plain
[storage]
filesystem_folder = {folder / "collections"}
[logging]
level = warning
""")
    proc = subprocess.Popen([sys.executable, "-m", "radicale", "--config",
                             str(folder / "config")])
    return proc, f"http://127.0.0.1:{port}/{USER}@{DOMAIN}/"


def radicale_collection(base: Path, name: str) -> Path:
    return base / "radicale" / "collections" / "collection-root" / f"{USER}@{DOMAIN}" / name


async def wait_up(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(600):
        try:
            async with session.request("PROPFIND", url, headers={"Depth": "0"}) as resp:
                if resp.status < 500:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


# -- workload ----------------------------------------------------------------------------------
async def mkcalendar(session: aiohttp.ClientSession, url: str) -> None:
    async with session.request("MKCALENDAR", url) as resp:
        if resp.status not in (201, 405):
            raise RuntimeError(f"MKCALENDAR {url}: {resp.status} {await resp.text()}")


async def put_many(session: aiohttp.ClientSession, cal: str, events: list[tuple[int, str]]
                   ) -> float:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int, body: str) -> None:
        async with sem, session.put(f"{cal}ev-{i}.ics", data=body,
                                    headers={"Content-Type": "text/calendar"}) as resp:
            if resp.status not in (201, 204):
                raise RuntimeError(f"PUT {i}: {resp.status} {await resp.text()}")

    start = time.perf_counter()
    await asyncio.gather(*(one(i, body) for i, body in events))
    return time.perf_counter() - start


async def timed_report(session: aiohttp.ClientSession, url: str, body: str,
                       depth: str = "1") -> tuple[float, str]:
    start = time.perf_counter()
    async with session.request("REPORT", url, data=body,
                               headers={"Depth": depth,
                                        "Content-Type": "application/xml"}) as resp:
        text = await resp.text()
        if resp.status != 207:
            raise RuntimeError(f"REPORT {url}: {resp.status} {text[:300]}")
    return time.perf_counter() - start, text


def token_of(text: str) -> str:
    import xml.etree.ElementTree as ET

    return ET.fromstring(text).findtext("{DAV:}sync-token") or ""


async def one_change_sync(session: aiohttp.ClientSession, cal: str, reps: int) -> float:
    _, text = await timed_report(session, cal, SYNC.format(""))
    token = token_of(text)
    times = []
    for r in range(reps):
        async with session.put(f"{cal}ev-1.ics", data=make_event(1, False).replace(
                "Event 1", f"Event 1 v{r}"), headers={"Content-Type": "text/calendar"}) as resp:
            assert resp.status in (201, 204), resp.status
        took, text = await timed_report(session, cal, SYNC.format(token))
        token = token_of(text)
        times.append(took)
    return statistics.median(times)


async def run_server(name: str, home: str, sizes: dict[str, int],
                     fill_dir: Path | None = None) -> dict[str, float]:
    """`fill_dir`: write the big calendar's files straight into this folder (Radicale's
    storage is one .ics file per event) instead of PUTting them: Radicale's PUTs slow down
    with the collection size, and only the queries are measured on that calendar."""
    token = base64.b64encode(f"{USER}@{DOMAIN}:{PASSWORD}".encode()).decode()
    timeout = aiohttp.ClientTimeout(total=3600)
    out: dict[str, float] = {}
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"},
                                     timeout=timeout) as session:
        await wait_up(session, home)
        # 1. PUT 2,000 events
        await mkcalendar(session, home + "put/")
        events = [(i, make_event(i, False)) for i in range(sizes["put"])]
        took = await put_many(session, home + "put/", events)
        out["put_per_s"] = len(events) / took
        # 2. the big calendar: 10,000 events, 500 of them recurring
        big = home + "big/"
        await mkcalendar(session, big)
        n, rec = sizes["big"], sizes["recurring"]
        every = max(1, n // rec)
        if fill_dir is not None:
            for i in range(n):
                (fill_dir / f"ev-{i}.ics").write_text(make_event(i, i % every == 0))
        else:
            await put_many(session, big, [(i, make_event(i, i % every == 0))
                                          for i in range(n)])
        await timed_report(session, big, QUERY)  # warm caches, as a client would have
        times = [(await timed_report(session, big, QUERY))[0] for _ in range(sizes["reps"])]
        out["query_s"] = statistics.median(times)
        # 3. sync-collection after one change
        out["sync_s"] = await one_change_sync(session, big, sizes["reps"])
        if name == "rmail":
            small = home + "small/"
            await mkcalendar(session, small)
            await put_many(session, small, [(i, make_event(i, False))
                                            for i in range(sizes["big"] // 10)])
            out["sync_small_s"] = await one_change_sync(session, small, sizes["reps"])
    print(f"  {name}: PUT {out['put_per_s']:.0f}/s, query {out['query_s'] * 1000:.1f} ms, "
          f"one-change sync {out['sync_s'] * 1000:.2f} ms", flush=True)
    return out


async def main_async(args: argparse.Namespace) -> int:
    sizes = {"put": 2000, "big": 10_000, "recurring": 500, "reps": 7}
    if args.quick:
        sizes = {"put": 200, "big": 1000, "recurring": 50, "reps": 3}
    base = Path(args.dir or tempfile.mkdtemp(prefix="rmail-bench-caldav-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        results: dict[str, dict[str, float]] = {}
        proc, home = start_rmail(base, free_port())
        procs.append(proc)
        print(f"rmail ({sizes['put']} PUTs, {sizes['big']}-event calendar):", flush=True)
        results["rmail"] = await run_server("rmail", home, sizes)
        if importlib.util.find_spec("radicale") is not None:
            proc, home = start_radicale(base, free_port())
            procs.append(proc)
            print("Radicale:", flush=True)
            results["radicale"] = await run_server("radicale", home, sizes,
                                                   radicale_collection(base, "big"))
        else:
            print("Radicale is not installed (pip install radicale): no ratios.")
            return 0
        r, p = results["rmail"], results["radicale"]
        print("\nratios (rmail faster by):")
        print(f"  PUT 2,000 events           {r['put_per_s'] / p['put_per_s']:6.2f}x  "
              "(target >= 2)")
        print(f"  calendar-query, one month  {p['query_s'] / r['query_s']:6.2f}x  (target >= 5)")
        print(f"  sync after one change      {p['sync_s'] / r['sync_s']:6.2f}x  (target >= 20)")
        print(f"  rmail one-change sync, {sizes['big']} vs {sizes['big'] // 10} events: "
              f"{r['sync_s'] / r['sync_small_s']:.2f} (flat: ~1)")
        return 0
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep and not args.dir:
            shutil.rmtree(base, ignore_errors=True)


def _interrupt(*_args: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--dir", help="work directory (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    signal.signal(signal.SIGTERM, _interrupt)  # unwind (and stop both servers) on SIGTERM too
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
