"""Webmail benchmark (issue 11, "Performance"); prints figures and a Markdown summary.

1. Render time of the message-list page (`GET /webmail/{folder}`, 50 rows) in a 100,000- and
   a 100-message folder: median latency over one keep-alive connection, the two folders
   alternating request by request. Targets: big/small <= 1.5, median <= 20 ms.
2. Detail page of a 1 MB HTML mail (`GET /webmail/message/Html/{uid}`) plus the sanitised
   body its frame loads: the sum of the two medians. Target: <= 50 ms.
3. Page weight before the message body: the list page, and the detail page up to its
   `msg-body`. Target: < 100 KB.
4. Throughput with `wrk`: the list page with a session cookie against the JSON listing
   `GET /folders/INBOX/messages?limit=50` with a Bearer token, same folder, same server,
   rounds alternating. Target: page/JSON >= 0.5.

The latencies are measured by a client on the same machine over loopback (plain HTTP, as the
HTTP benchmark does: TLS would measure OpenSSL), so they include the request's round trip,
which on loopback is a small fraction of a millisecond. The big folders are built directly
(index columns written as a snapshot, message files for the newest messages only, as
`bench/http_api.py` does): a list page reads the index and the newest messages' metadata only.

    .venv/bin/python bench/webmail.py [--seconds 5] [--rounds 3] [--samples 200] [--smoke]

Needs Debian's `wrk` for figure 4 (skipped with a note when absent).
"""

# ruff: noqa: E402  (imports follow the sys.path fix below)
from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/webmail.py`, this file's directory comes first on sys.path, where
# a module named like a standard one would shadow it: drop it first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import asyncio
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from html import unescape as html_unescape
from html.parser import HTMLParser
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/webmail.py` from a checkout
    sys.path.insert(0, str(REPO))

from bench.common import free_port, load, say
from bench.http_api import (
    DOMAIN,
    PAGE,
    PASSWORD,
    SECRET,
    USER,
    build_folder,
    clean_up,
    message,
    wrk,
)
from rmail import auth
from rmail.auth.tokens import issue_token
from rmail.config import LISTENER_NAMES
from rmail.store.mailbox import MailStore

TARGET_GROWTH = 1.5
TARGET_LIST_MS = 20.0
TARGET_DETAIL_MS = 50.0
TARGET_RATIO = 0.5
TARGET_PAGE_KB = 100.0


@dataclass(frozen=True)
class Sizes:
    small: int
    big: int
    inbox: int
    html_bytes: int


FULL = Sizes(small=100, big=100_000, inbox=1_000, html_bytes=1_000_000)
SMOKE = Sizes(small=100, big=2_000, inbox=100, html_bytes=100_000)


def html_mail(size: int) -> bytes:
    """A newsletter-like HTML mail of about ``size`` bytes: tables, styles, links, images."""
    row = ("<tr><td style=\"padding:8px;font-family:Arial\"><a href=\"https://example.org/a?"
           "id={i}\">Item {i}</a> <img src=\"https://example.org/i/{i}.png\" width=\"20\"></td>"
           "<td class=\"price\">{i}.99 EUR</td><td><p>Lorem ipsum dolor sit amet, "
           "consectetur adipiscing elit, sed do eiusmod tempor.</p></td></tr>\n")
    rows, i = [], 0
    total = 0
    while total < size:
        line = row.format(i=i)
        rows.append(line)
        total += len(line)
        i += 1
    body = ("<html><head><style>td{color:#333}.price{font-weight:bold}</style></head><body>"
            "<h1>Newsletter</h1><table>" + "".join(rows) + "</table></body></html>")
    return (f"From: News <news@example.org>\r\nTo: {USER}@{DOMAIN}\r\n"
            f"Subject: Big newsletter\r\nDate: Sun, 13 Apr 2025 14:30:00 +0000\r\n"
            f"Message-ID: <big-html@example.org>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/html; charset=utf-8\r\n\r\n{body}\r\n").encode()


class _Hidden(HTMLParser):
    """The hidden inputs of `form.login-form`."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self._in_form = "login-form" in (a.get("class") or "").split()
        elif tag == "input" and self._in_form and a.get("type") == "hidden" and a.get("name"):
            self.fields[a["name"] or ""] = a.get("value") or ""


class Client:
    """One keep-alive HTTP connection that carries the session cookie."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.host = f"localhost:{port}"

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        hdrs = {"Host": self.host, **(headers or {})}
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=hdrs)
        response = self.conn.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def login(self, address: str, password: str) -> None:
        status, _, page = self.request("GET", "/webmail/login")
        if status != 200:
            raise SystemExit(f"GET /webmail/login answered {status}: is the webmail there?")
        parser = _Hidden()
        parser.feed(page.decode("utf-8", "replace"))
        form = {**parser.fields, "username": address, "password": password}
        status, headers, _ = self.request(
            "POST", "/webmail/login", urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 303 or "rmail_session" not in self.cookies:
            raise SystemExit(f"login failed: {status} {headers.get('location')}")

    def time(self, path: str) -> tuple[float, int]:
        t = time.perf_counter()
        status, _, data = self.request("GET", path)
        elapsed = (time.perf_counter() - t) * 1000
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}")
        return elapsed, len(data)


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def medians(client: Client, paths: dict[str, str], samples: int) -> dict[str, float]:
    """Median latency per path, the paths alternating request by request."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    for path in paths.values():  # warm: index loaded, metadata of the page cached
        for _ in range(3):
            client.time(path)
    for _ in range(samples):
        for name, path in paths.items():
            times[name].append(client.time(path)[0])
    return {name: statistics.median(values) for name, values in times.items()}


def before_body(page: bytes) -> int:
    """Bytes of the page before the message body starts (the whole page if it has none)."""
    match = re.search(rb"<div[^>]*class=\"[^\"]*\bmsg-body\b", page)
    return match.start() if match else len(page)


def body_frame(page: bytes) -> str | None:
    """The path of the frame that shows an HTML body (`iframe.msg-frame`), if the page has one."""
    match = re.search(rb"<iframe[^>]*class=\"[^\"]*\bmsg-frame\b[^>]*>", page)
    src = re.search(rb'\ssrc="([^"]+)"', match.group(0)) if match else None
    if src is None:
        return None
    return "/" + html_unescape(src.group(1).decode()).split("://", 1)[-1].split("/", 1)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=200, help="latency samples per page")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")
    parser.add_argument("--keep", action="store_true", help="keep the temporary mail root")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    if args.smoke:
        args.seconds, args.rounds, args.samples = 2, 1, 10
    command = " ".join([".venv/bin/python", "bench/webmail.py", *(argv or sys.argv[1:])])
    say("# rmail webmail benchmark" + (" (smoke sizes)" if args.smoke else ""))
    say(f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. Load average at start: {load()}")

    work = Path(tempfile.mkdtemp(prefix="rmail-bench-webmail-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        root = work / "mailstore"
        asyncio.run(auth.create_user(root, USER, DOMAIN, PASSWORD))
        store = MailStore(root)
        t = time.perf_counter()
        build_folder(store, "Small", sizes.small, bodies=PAGE * 2)
        build_folder(store, "Big", sizes.big, bodies=PAGE * 2)
        mailbox = store.mailbox(DOMAIN, USER)
        inbox = mailbox.folder("INBOX")
        for start in range(1, sizes.inbox + 1, 500):
            inbox.append_many([(message(i), ("\\Seen",) if i % 3 else (), None)
                               for i in range(start, min(start + 500, sizes.inbox + 1))])
        html_folder = mailbox.create_folder("Html")
        (html,) = html_folder.append_many([(html_mail(sizes.html_bytes), ("\\Seen",), None)])
        say(f"built Small {sizes.small:,}, Big {sizes.big:,}, INBOX {sizes.inbox:,} and one "
            f"{sizes.html_bytes / 1e6:.1f} MB HTML mail in {time.perf_counter() - t:.1f} s")

        port = free_port()
        listeners = {name: {"enabled": False} for name in LISTENER_NAMES}
        listeners["http"] = {"enabled": True, "host": "127.0.0.1", "port": port, "tls": False}
        config = {"hostname": "localhost", "mail_root": str(root), "domains": [DOMAIN],
                  "listeners": listeners, "exchange_api": {"token_secret": SECRET}}
        (work / "config.json").write_text(json.dumps(config))
        log = open(work / "rmail.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(subprocess.Popen([sys.executable, "-m", "rmail", "--config",
                                       str(work / "config.json"), "serve"], cwd=REPO,
                                      stdout=log, stderr=subprocess.STDOUT))
        wait_ready(port)
        client = Client(port)
        client.login(f"{USER}@{DOMAIN}", PASSWORD)
        results: list[tuple[str, str, str, bool]] = []

        say(f"\n1. list page, {PAGE} rows, one keep-alive connection, {args.samples} samples "
            "each, folders alternating")
        lists = medians(client, {"small": "/webmail/Small", "big": "/webmail/Big"},
                        args.samples)
        growth = lists["big"] / lists["small"]
        say(f"   {sizes.small:>7,} messages: median {lists['small']:6.2f} ms")
        say(f"   {sizes.big:>7,} messages: median {lists['big']:6.2f} ms   "
            f"ratio {growth:.2f} (target <= {TARGET_GROWTH})")
        results.append((f"List page, {sizes.big:,} vs {sizes.small:,} messages (median)",
                        f"**{growth:.2f}** ({lists['big']:.2f} vs {lists['small']:.2f} ms)",
                        f"≤ {TARGET_GROWTH}", growth <= TARGET_GROWTH))
        worst = max(lists.values())
        results.append((f"List page median, {sizes.big:,}-message folder", f"**{worst:.2f} ms**",
                        f"≤ {TARGET_LIST_MS:g} ms", worst <= TARGET_LIST_MS))

        say(f"\n2. detail page of a {sizes.html_bytes / 1e6:.1f} MB HTML mail, and the "
            "sanitised body its frame loads")
        detail_path = f"/webmail/message/Html/{html.uid}"
        paths = {"detail": detail_path}
        if frame := body_frame(client.request("GET", detail_path)[2]):
            paths["body"] = frame
        detail = medians(client, paths, max(10, args.samples // 4))
        total = sum(detail.values())
        for name, ms in detail.items():
            say(f"   {name:<7} median {ms:7.2f} ms   ({paths[name]})")
        say(f"   together {total:.2f} ms (target <= {TARGET_DETAIL_MS:g})")
        shown = " + ".join(f"{name} {ms:.2f} ms" for name, ms in detail.items())
        results.append((f"Detail page, {sizes.html_bytes / 1e6:.1f} MB HTML mail (median of "
                        "the page + median of its body frame)", f"**{total:.2f} ms** ({shown})",
                        f"≤ {TARGET_DETAIL_MS:g} ms", total <= TARGET_DETAIL_MS))

        say("\n3. page weight before the message body")
        _, _, list_page = client.request("GET", "/webmail/Big")
        _, _, detail_page = client.request("GET", detail_path)
        weights = {"list page (50 rows)": len(list_page),
                   "detail page before msg-body": before_body(detail_page)}
        for name, size in weights.items():
            say(f"   {name}: {size / 1024:.1f} KB")
        heaviest = max(weights.values()) / 1024
        results.append(("Page weight before the message body (heaviest of list, detail)",
                        f"**{heaviest:.1f} KB**", f"< {TARGET_PAGE_KB:g} KB",
                        heaviest < TARGET_PAGE_KB))

        if shutil.which("wrk") is None:
            say("\n4. skipped: wrk not found (apt-get install wrk)")
        else:
            client.time("/webmail/INBOX")  # a 200, not a redirect to the login page
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            token = issue_token(SECRET, USER, DOMAIN, ttl=86400)
            base = f"http://127.0.0.1:{port}"
            say(f"\n4. throughput, wrk -c{args.connections} -d{args.seconds}s, {args.rounds} "
                "rounds alternating page and JSON; median of the round ratios")
            json_path = f"/folders/INBOX/messages?limit={PAGE}"
            status, _, _ = client.request("GET", json_path,
                                          headers={"Authorization": f"Bearer {token}"})
            if status != 200:
                raise SystemExit(f"GET {json_path} answered {status}")
            ratios = []
            for _ in range(args.rounds):
                page = wrk(base + "/webmail/INBOX", seconds=args.seconds,
                           connections=args.connections, threads=2,
                           headers={"Cookie": cookie})
                api = wrk(base + json_path, seconds=args.seconds,
                          connections=args.connections, threads=2, token=token)
                if not api["rps"]:
                    raise SystemExit("wrk got no answer from the JSON listing in time")
                ratios.append(page["rps"] / api["rps"])
                say(f"   page {page['rps']:>8,.0f} req/s (non-2xx {page['non2xx']:.0f})   "
                    f"JSON {api['rps']:>8,.0f} req/s   ratio {ratios[-1]:.2f}")
            ratio = statistics.median(ratios)
            say(f"   median ratio {ratio:.2f} (target >= {TARGET_RATIO})")
            results.append(("`wrk` list page (session cookie) / JSON listing, same folder",
                            f"**{ratio:.2f}** ({page['rps']:,.0f} vs {api['rps']:,.0f} req/s)",
                            f"≥ {TARGET_RATIO}", ratio >= TARGET_RATIO))

        say("\n## Summary\n")
        say("| Figure | Result | Target | |")
        say("|---|---|---|---|")
        for figure, result, target, ok in results:
            say(f"| {figure} | {result} | {target} | {'ok' if ok else 'missed'} |")
        say(f"\nCommand: `{command}`  ")
        say(f"Load average at the end: {load()}")
        return 0
    finally:
        clean_up(procs, work, keep=args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
