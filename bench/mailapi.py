"""The WildDuck-style mail API (issue 18, "Performance"): search, indexing cost, message JSON
and live update streams, each beside a peer measured in the same run, in one process.

1. Indexing vs delivery: CPU per message of delivering ``--deliveries`` 4 KB messages through
   the real pipeline (durable appends), then of indexing them as the server's indexer does
   (`SearchIndexer.index_user`: batches of 200 per transaction). Target: indexing <= 30% of
   delivery.
2. Search: ``--messages`` messages (default 100,000) in one folder, indexed; then the median
   of ``--rounds`` warm `GET /users/me/search?q=WORD&limit=20` over HTTP for a rare word (1 in
   100 messages) and a word in every message. Peers: a bare aiohttp handler answering the same
   JSON bytes on the same kind of server (the HTTP floor), and a scan of every message file for
   the word (what a search without an index does, as Dovecot's SEARCH TEXT without an FTS
   plugin). Target: <= 50 ms.
3. Message JSON of a 1 MB HTML mail: cold (the first `GET .../messages/{uid}` of each of five
   such mails, which renders and saves the body: `rmail.store.rendercache`) and warm (the
   median of ``--rounds`` GETs of one); peer: the bare handler with the same body. Target:
   warm <= 30 ms. Then the webmail's first and second view of another one (detail page and
   its body frame, each timed).
4. ``--streams`` open `GET /users/me/updates` streams (default 1,000): RSS growth of this
   process (server and clients together, so an upper bound of the server's share), and the
   time from a delivery until every stream has its EXISTS event (median and range of
   ``--stream-deliveries`` deliveries, default 5). Targets: <= 100 MB, <= 200 ms.
   Then the same with webmail session cookies (one session per stream), as the webmail's
   pages open the stream (``--stream-auth token|session|both``; ``--only-streams`` skips 1-3).

Prints the load average: figures from a loaded machine are ratios first.

    .venv/bin/python bench/mailapi.py [--messages 100000] [--deliveries 2000] [--rounds 20]
                                      [--streams 1000] [--stream-deliveries 5]
                                      [--only-message-json]
                                      [--only-streams] [--stream-auth both]
"""

from __future__ import annotations

import argparse
import asyncio
import html as html_lib
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Run as `python bench/mailapi.py`: the checkout first, and not bench/ itself, whose modules
# must never shadow the standard library's.
sys.path[:] = [str(REPO)] + [p for p in sys.path
                             if Path(p or ".").resolve() not in (REPO, REPO / "bench")]

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402

from rmail.auth.passwords import hash_password  # noqa: E402
from rmail.bus import rss_bytes  # noqa: E402
from rmail.config import Config  # noqa: E402
from rmail.services import Services, build_services  # noqa: E402
from rmail.store.searchindex import search_index  # noqa: E402
from rmail.web.app import create_app  # noqa: E402

DOMAIN = "bench.example"
CONCURRENCY = 10
RARE, COMMON = "zanzibar", "meeting"
_rng = random.Random(18)
WORDS = ["".join(_rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_rng.randint(3, 10)))
         for _ in range(5000)]


def message(i: int, size: int = 4000) -> bytes:
    rng = random.Random(i)
    words = [COMMON] + [rng.choice(WORDS) for _ in range(size // 7)]
    if i % 100 == 0:
        words.insert(rng.randrange(len(words)), RARE)
    body = "\r\n".join(" ".join(words[k:k + 12]) for k in range(0, len(words), 12))
    return (f"From: Sender {i % 50} <sender{i % 50}@example.net>\r\nTo: user@{DOMAIN}\r\n"
            f"Subject: {COMMON} notes {i}\r\nMessage-ID: <{i}.{time.time_ns()}@example.net>\r\n"
            f"Date: Sun, 06 Dec 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def html_message(size: int) -> bytes:
    rows = []
    n = 0
    while sum(len(r) for r in rows) < size:
        rows.append(f'<tr><td style="color:#333">row {n}</td><td><a href="https://example.com/'
                    f'{n}">link {n}</a></td><td><b>{" ".join(WORDS[n % 4000:n % 4000 + 8])}'
                    f"</b></td></tr>\n")
        n += 1
    html = "<html><body><table>" + "".join(rows) + "</table></body></html>"
    return (f"From: news@example.net\r\nTo: user@{DOMAIN}\r\nSubject: big html\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            f"{html}\r\n").encode()


def setup(root: Path) -> Services:
    config = Config.from_dict({"hostname": "bench.example", "mail_root": str(root),
                               "domains": [DOMAIN]}, source="bench")
    core = build_services(config)
    core.accounts.add_domain(DOMAIN, exist_ok=True)
    digest = hash_password("bench password")
    for user in ("deliver", "search", "sse"):
        core.accounts.create(DOMAIN, user, digest, quota_mb=1_000_000)
    return core


async def indexing_vs_delivery(core: Services, count: int) -> tuple[float, float]:
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            report = await core.delivery.deliver_local(
                message(i), mail_from=f"s{i}@example.net", recipients=[f"deliver@{DOMAIN}"])
            assert report.ok, report

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    deliver = (time.process_time() - cpu) / count
    cpu = time.process_time()
    done = await asyncio.to_thread(core.indexer.index_user, DOMAIN, "deliver", None)
    assert done == count, done
    return deliver, (time.process_time() - cpu) / count


def fill(core: Services, count: int) -> None:
    folder = core.mail.mailbox(DOMAIN, "search").folder("INBOX")
    for start in range(0, count, 256):
        folder.append_many([(message(i), (), None) for i in range(start, min(count,
                                                                             start + 256))])


def scan(core: Services, word: bytes) -> tuple[float, int]:
    """A search without an index: read every message and look for the word."""
    folder = core.mail.mailbox(DOMAIN, "search").folder("INBOX")
    started, hits = time.perf_counter(), 0
    for uid in folder.uids():
        if word in folder.read_message(uid).lower():
            hits += 1
    return time.perf_counter() - started, hits


async def timed_get(session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                    rounds: int) -> tuple[float, bytes]:
    times = []
    body = b""
    for _ in range(rounds):
        started = time.perf_counter()
        async with session.get(url, headers=headers) as response:
            body = await response.read()
            assert response.status == 200, body[:200]
        times.append(time.perf_counter() - started)
    return statistics.median(times), body


async def login(session: aiohttp.ClientSession, base: str, user: str) -> str:
    async with session.post(f"{base}/auth/login", json={
            "username": f"{user}@{DOMAIN}", "password": "bench password"}) as response:
        assert response.status == 200, await response.read()
        return str((await response.json())["token"])


async def bare_server(body: bytes) -> TestServer:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


def fresh_html(folder_seed: int) -> bytes:
    """A 1 MB HTML mail whose bytes differ from every other one (its own message file)."""
    return html_message(1024 * 1024).replace(b"Subject: big html",
                                             b"Subject: big html %d" % folder_seed)


async def webmail_login(session: aiohttp.ClientSession, base: str, user: str) -> None:
    async with session.get(f"{base}/webmail/login") as response:
        page = await response.text()
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    form = {**fields, "username": f"{user}@{DOMAIN}", "password": "bench password"}
    async with session.post(f"{base}/webmail/login", data=form,
                            allow_redirects=False) as response:
        assert response.status == 303, await response.text()


async def webmail_view(session: aiohttp.ClientSession, url: str) -> tuple[float, float]:
    """(detail page, its body frame) in seconds, one view."""
    started = time.perf_counter()
    async with session.get(url) as response:
        page = await response.text()
        assert response.status == 200, page[:200]
    detail = time.perf_counter() - started
    frame = re.search(r'<iframe[^>]*class="[^"]*msg-frame[^>]*>', page)
    src = re.search(r'\ssrc="([^"]+)"', frame.group(0)) if frame else None
    assert src is not None, "no body frame on the detail page"
    started = time.perf_counter()
    async with session.get(html_lib.unescape(src.group(1))) as response:
        await response.read()
        assert response.status == 200
    return detail, time.perf_counter() - started


async def message_json(core: Services, session: aiohttp.ClientSession, base: str,
                       headers: dict[str, str], rounds: int) -> list[str]:
    """Message JSON of 1 MB HTML mails: cold (the first GET of each of several messages, which
    renders and saves), warm (the saved rendering), the bare handler with the same body; then
    the webmail's first and second view of another one (detail page + body frame)."""
    out = []
    folder = core.mail.mailbox(DOMAIN, "search").folder("INBOX")
    uids = [(await asyncio.to_thread(folder.append, fresh_html(i))).uid for i in range(6)]
    size = folder.record(uids[0]).size
    url = f"{base}/users/me/mailboxes/{folder.mailbox_id()}/messages/"
    cold = statistics.median([(await timed_get(session, f"{url}{uid}", headers, 1))[0]
                              for uid in uids[:5]])
    await timed_get(session, f"{url}{uids[0]}", headers, 1)
    warm, body = await timed_get(session, f"{url}{uids[0]}", headers, max(10, rounds))
    bare = await bare_server(body)
    floor, _ = await timed_get(session, str(bare.make_url("/")), {}, max(10, rounds))
    await bare.close()
    out.append(f"message JSON of a {size / 2**20:.1f} MB HTML mail "
               f"({len(body) / 2**20:.1f} MB of JSON): cold {cold * 1e3:.0f} ms (first GET, "
               f"renders and saves; median of 5 messages), warm {warm * 1e3:.1f} ms median "
               f"(target <= 30); bare handler, same body: {floor * 1e3:.1f} ms; warm/bare "
               f"{warm / floor:.1f}")
    await webmail_login(session, base, "search")
    view = f"{base}/webmail/message/INBOX/{uids[5]}"
    first = await webmail_view(session, view)
    second = [await webmail_view(session, view) for _ in range(max(5, rounds // 2))]
    again = (statistics.median(d for d, _ in second), statistics.median(f for _, f in second))
    out.append(f"webmail view of a {size / 2**20:.1f} MB HTML mail (detail page + body frame): "
               f"first {first[0] * 1e3:.0f} + {first[1] * 1e3:.0f} ms, second "
               f"{again[0] * 1e3:.1f} + {again[1] * 1e3:.1f} ms (median)")
    return out


async def streams(core: Services, base: str, count: int,
                  headers: Callable[[], dict[str, str]], note: Callable[[str], None],
                  deliveries: int) -> tuple[int, list[float]]:
    """Open `count` update streams (each with `headers()`): the RSS they added, and the times
    from each of `deliveries` deliveries (one after another) until every stream has its
    EXISTS event."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        before = rss_bytes()
        responses = []
        for n in range(count):
            if n % 100 == 0:
                note(f"{n} streams open")
            response = await session.get(f"{base}/users/me/updates", headers=headers())
            assert response.status == 200, await response.read()
            await response.content.readuntil(b"\n\n")  # `retry:` and the position
            responses.append(response)
        grown = rss_bytes() - before
        inbox = core.mail.mailbox(DOMAIN, "sse").folder("INBOX")
        os.sync()  # the logins' files written out: the delivery's fsync does not wait on them
        latencies = []
        for n in range(deliveries):
            started = time.perf_counter()
            await asyncio.to_thread(inbox.append, message(n))
            waits = await asyncio.gather(*(r.content.readuntil(b"\n\n") for r in responses))
            latencies.append(time.perf_counter() - started)
            assert all(b"EXISTS" in w for w in waits)
            await asyncio.sleep(0.2)  # apart: each delivery its own fan-out
        for r in responses:
            r.close()
    return grown, latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--stream-deliveries", type=int, default=5,
                        help="deliveries timed one after another to the open streams")
    parser.add_argument("--only-message-json", action="store_true",
                        help="measure only the message JSON and the webmail view")
    parser.add_argument("--only-streams", action="store_true",
                        help="measure only the update streams")
    parser.add_argument("--stream-auth", choices=("token", "session", "both"), default="both",
                        help="streams opened with an API token, webmail session cookies "
                             "(one login per stream, as the webmail's pages), or both in turn")
    args = parser.parse_args()
    out: list[str] = []

    def note(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    class Figures(list[str]):
        def append(self, line: str) -> None:  # shown as soon as measured, again at the end
            print(line, file=sys.stderr, flush=True)
            super().append(line)

    out = Figures()
    with tempfile.TemporaryDirectory(prefix="rmail-bench-mailapi-") as tmp:
        core = setup(Path(tmp) / "mailstore")
        if not (args.only_message_json or args.only_streams):
            note("delivering")
            deliver, index = await indexing_vs_delivery(core, args.deliveries)
            out.append(f"indexing / delivery CPU per message: {index / deliver:.2f} "
                       f"({index * 1e6:.0f} vs {deliver * 1e6:.0f} us; target <= 0.30)")
            started = time.perf_counter()
            note("filling")
            await asyncio.to_thread(fill, core, args.messages)
            filled = time.perf_counter() - started
            search = search_index(core.mail.mailbox(DOMAIN, "search"))
            started = time.perf_counter()
            note("indexing")
            await asyncio.to_thread(search.sync)
            out.append(f"{args.messages} messages stored in {filled:.0f} s, indexed in "
                       f"{time.perf_counter() - started:.0f} s "
                       f"({os.path.getsize(search.path) / 2**20:.0f} MB index)")
        app_server = TestServer(create_app(core.config, core=core), host="127.0.0.1")
        await app_server.start_server()
        base = str(app_server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            headers = {"Authorization": f"Bearer {await login(session, base, 'search')}"}
            if not (args.only_message_json or args.only_streams):
                for word in (RARE, COMMON):
                    url = f"{base}/users/me/search?q={word}&limit=20"
                    await timed_get(session, url, headers, 2)  # warm
                    took, body = await timed_get(session, url, headers, args.rounds)
                    bare = await bare_server(body)
                    floor, _ = await timed_get(session, str(bare.make_url("/")), {}, args.rounds)
                    await bare.close()
                    matches = args.messages // 100 if word == RARE else args.messages
                    out.append(f"search {word!r} (20 of {matches} matches): "
                               f"{took * 1e3:.1f} ms median (target <= 50); "
                               f"bare handler, same body: {floor * 1e3:.1f} ms; ratio "
                               f"{took / floor:.1f}")
                scanned, hits = await asyncio.to_thread(scan, core, RARE.encode())
                out.append(f"scan of every message for {RARE!r} (no index): "
                           f"{scanned * 1e3:.0f} ms, {hits} hits; indexed search is "
                           f"{scanned / took:.0f}x faster")
            if not args.only_streams:
                for line in await message_json(core, session, base, headers, args.rounds):
                    out.append(line)
        note("streams")
        if args.streams and not args.only_message_json:  # (also with --only-streams)
            async with aiohttp.ClientSession() as session:
                sse_token = await login(session, base, "sse")
            bearer = {"Authorization": f"Bearer {sse_token}"}
            # what the webmail's pages open: the session cookie, one login per stream
            epoch = core.accounts.get(DOMAIN, "sse").auth_epoch

            def cookie() -> dict[str, str]:
                session_id, _ = core.sessions.create(DOMAIN, "sse", epoch)
                return {"Cookie": f"rmail_session={session_id}"}

            kinds = {"token": [("API token", lambda: bearer)],
                     "session": [("webmail sessions", cookie)]}
            kinds["both"] = kinds["token"] + kinds["session"]
            for n, (label, headers_of) in enumerate(kinds[args.stream_auth]):
                grown, latencies = await streams(core, base, args.streams, headers_of, note,
                                                 max(1, args.stream_deliveries))
                memory = (f"+{grown / 2**20:.0f} MB RSS (server and clients; target <= 100)"
                          if n == 0 else "RSS not comparable after the first set")
                out.append(f"{args.streams} open update streams ({label}): {memory}; a "
                           f"delivery reached every stream in "
                           f"{statistics.median(latencies) * 1e3:.0f} ms median, "
                           f"{min(latencies) * 1e3:.0f}-{max(latencies) * 1e3:.0f} ms over "
                           f"{len(latencies)} deliveries (target <= 200; load "
                           f"{os.getloadavg()[0]:.1f})")
        await app_server.close()
        core.delivery.close()
        core.close()
    load = os.getloadavg()
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for line in out:
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
