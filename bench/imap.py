"""IMAP benchmark (issue 4, "Performance"): rmail against Dovecot, same generator, same run.

1. **Mixed workload**, 1 and 20 concurrent clients, each cycling through LOGIN, SELECT,
   `FETCH 1:* (UID FLAGS)`, `UID FETCH n-50:* (BODY.PEEK[HEADER])` (the newest 50), `UID STORE`
   of `\\Seen` on and off, `APPEND`, `UID SEARCH UNSEEN`, NOOP, LOGOUT, on a folder of
   `--messages` messages. Operations per second for both servers and the ratio rmail/Dovecot
   (target >= 0.5). The generator runs in worker processes; its CPU use is printed so that a
   saturated generator shows.
2. **IDLE wake-up**: one client IDLEs, another APPENDs; median time until `* n EXISTS`.
3. **Large folder** (`--big`, rmail only): a cold server, then SELECT, `UID FETCH 1:* (FLAGS)`,
   `UID SEARCH UNSEEN` (targets 0.2 s, 1 s, 0.2 s at 100,000 messages).
4. **Idle connections** (`--idle`, rmail only): resident memory per authenticated IDLE
   connection (target <= 64 KB).
5. **Header SEARCH, SORT and THREAD** (`--headers`, both servers): a folder of that many
   messages in threads of five (a root and four replies with References), then
   `UID SEARCH HEADER Message-ID <...>`, `UID SORT (SUBJECT) UTF-8 ALL` and
   `UID THREAD REFERENCES UTF-8 ALL`, each run once to warm up (Dovecot builds its cache
   fields, rmail reads its header cache) and then timed as the median of three; ratio
   Dovecot time / rmail time (target >= 1.0).
6. **Body SEARCH** (`--body`, both servers): a folder of that many 3 KB messages of varied
   words, one in 100 holding a rare word; `UID SEARCH BODY word` warm (median of three after a
   warm-up) and `UID SEARCH TEXT word`. rmail answers from its full-text index (built by the
   server's indexer at start; the bench waits for it), Dovecot with its default configuration
   (no FTS plugin) reads every message. Target: rmail <= 2x Dovecot's time.

Both servers listen on loopback without TLS (TLS would measure OpenSSL), with plaintext login
allowed. Dovecot is Debian's `dovecot-imapd` run as `dovecot -F -c CONF` with a Maildir store
and a passwd-file; it is skipped (ratios omitted) when not installed.

    .venv/bin/python bench/imap.py [--seconds 10] [--messages 2000] [--big 100000]
                                   [--idle 2000] [--headers 100000] [--body 100000]
                                   [--keep] [--dir DIR]
"""

# ruff: noqa: E402  (imports follow the sys.path fix below)
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Run as `python bench/imap.py`, Python puts bench/ first on the path, where a module named
# like a standard one would hide it: drop bench/ and put the checkout first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
if str(REPO) not in sys.path:  # run as `python bench/imap.py` from a checkout
    sys.path.insert(0, str(REPO))

import argparse
import asyncio
import os
import pwd
import random
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from array import array
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from bench import workers as bench_workers
from bench.common import (
    Peer,
    free_port,
    listeners,
    remove_work,
    rss_kb,
    say,
    serve_rmail,
    wait_port,
    write_config,
)
from rmail.auth.passwords import hash_password
from rmail.store import fsutil
from rmail.store.accounts import Accounts
from rmail.store.journal import FolderIndex
from rmail.store.mailbox import MailStore

DOMAIN, USER, PASSWORD = "bench.example", "bench", "bench-password"
LOGIN = f"{USER}@{DOMAIN}"
TARGET_RATIO = 0.5
OPS_PER_SESSION = 10


def message(n: int, size: int = 3000) -> bytes:
    head = (f"From: Sender {n % 97} <sender{n % 97}@example.org>\r\n"
            f"To: {LOGIN}\r\nSubject: benchmark message {n}\r\n"
            f"Date: Mon, 1 Jan 2024 10:{n % 60:02d}:00 +0000\r\n"
            f"Message-ID: <{n}@bench.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode()
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


# -- servers ----------------------------------------------------------------------------------
def rmail_config(base: Path, port: int) -> Path:
    return write_config(base / "rmail.json", {
        "hostname": "localhost", "mail_root": str(base / "rmail"), "domains": [DOMAIN],
        "listeners": listeners(imap={"port": port}), "workers": bench_workers()})


def start_rmail(base: Path, conf: Path, port: int) -> Peer:
    proc = serve_rmail(conf, log=base / "rmail.log")
    wait_port(port, proc, greeting=b"* OK")
    return Peer("rmail", port, proc)


def setup_rmail(base: Path, messages: int) -> tuple[Path, int]:
    port = free_port()
    conf = rmail_config(base, port)
    accounts = Accounts(base / "rmail")
    accounts.create(DOMAIN, USER, hash_password(PASSWORD))
    inbox = MailStore(base / "rmail").mailbox(DOMAIN, USER).folder("INBOX")
    batch = [(message(i), ("\\Seen",) if i % 5 else (), None) for i in range(1, messages + 1)]
    for start in range(0, len(batch), 1000):
        inbox.append_many(batch[start:start + 1000])
    return conf, port


DOVECOT_CONF = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
login_trusted_networks = 127.0.0.0/8
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:{base}/mail/%u
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = {base}/passwd
}}
userdb {{
  driver = passwd-file
  args = {base}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  process_min_avail = 2
}}
service imap {{
  process_limit = 4096
}}
protocol imap {{
  mail_max_userip_connections = 10000
}}
"""


def setup_dovecot(base: Path, messages: int) -> tuple[Path, int] | None:
    if shutil.which("dovecot") is None:
        return None
    port = free_port()
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    nobody = pwd.getpwnam("nobody")
    (base / "passwd").write_text(f"{LOGIN}:{{PLAIN}}{PASSWORD}:{nobody.pw_uid}:"
                                 f"{nobody.pw_gid}::{base}/home::\n")
    maildir = base / "mail" / LOGIN
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i in range(1, messages + 1):
        raw = message(i)
        flags = "S" if i % 5 else ""
        (maildir / "cur" / f"{1600000000 + i}.M{i}P1.bench,S={len(raw)}:2,{flags}"
         ).write_bytes(raw)
    (base / "home").mkdir(exist_ok=True)
    conf = base / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(base=base, port=port))
    subprocess.run(["chown", "-R", f"{nobody.pw_uid}:{nobody.pw_gid}", str(base / "mail"),
                    str(base / "home")], check=True)
    return conf, port


def start_dovecot(base: Path, conf: Path, port: int) -> Peer:
    log = open(base / "dovecot.out", "ab")  # noqa: SIM115
    proc = subprocess.Popen(["dovecot", "-F", "-c", str(conf)], stdout=log,
                            stderr=subprocess.STDOUT)
    wait_port(port, proc, greeting=b"* OK")
    return Peer("dovecot", port, proc, base / "run" / "master.pid")


# -- the client -------------------------------------------------------------------------------
class Client:
    """A small asyncio IMAP client: one command at a time, tagged completion found with
    `bytes.find` over a buffer (the generator must not be the bottleneck)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.n = 0

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        await reader.readline()
        return cls(reader, writer)

    async def cmd(self, command: bytes) -> bytes:
        self.n += 1
        tag = b"b%d" % self.n
        self.writer.write(tag + b" " + command + b"\r\n")
        buf = bytearray()
        marker = b"\r\n" + tag + b" "
        line_start = -1  # where the tagged line begins, once seen
        while True:
            chunk = await self.reader.read(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            start = max(0, len(buf) - len(marker))
            buf += chunk
            if line_start < 0:
                if buf.startswith(tag + b" "):
                    line_start = 0
                elif (found := buf.find(marker, start)) >= 0:
                    line_start = found + 2
            if line_start >= 0 and buf.endswith(b"\r\n"):
                status = buf[line_start + len(tag) + 1:line_start + len(tag) + 3]
                if status != b"OK":
                    raise RuntimeError(bytes(buf[line_start:line_start + 200]).decode())
                return bytes(buf)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


async def _session(port: int, rnd: random.Random, counts: dict[str, int]) -> None:
    c = await Client.open(port)
    await c.cmd(f'LOGIN {LOGIN} "{PASSWORD}"'.encode())
    counts["login"] += 1
    out = await c.cmd(b"SELECT INBOX")
    counts["select"] += 1
    uidnext = int(re.search(rb"UIDNEXT (\d+)", out).group(1))  # type: ignore[union-attr]
    for i in range(OPS_PER_SESSION):
        op = ("fetch_flags", "fetch_headers", "store", "search", "append", "store", "noop",
              "fetch_headers", "store", "noop")[i % 10]
        if op == "fetch_flags":
            await c.cmd(b"FETCH 1:* (UID FLAGS)")
        elif op == "fetch_headers":
            await c.cmd(b"UID FETCH %d:* (BODY.PEEK[HEADER])" % max(1, uidnext - 50))
        elif op == "store":
            sign = rnd.choice((b"+", b"-"))
            await c.cmd(b"UID STORE %d %sFLAGS.SILENT (\\Seen)" % (rnd.randrange(1, uidnext),
                                                                  sign))
        elif op == "search":
            await c.cmd(b"UID SEARCH UNSEEN")
        elif op == "append":
            raw = message(rnd.randrange(1_000_000))
            await c.cmd(b"APPEND INBOX {%d+}\r\n" % len(raw) + raw)
        else:
            await c.cmd(b"NOOP")
        counts[op] += 1
    await c.cmd(b"LOGOUT")
    await c.close()


async def _clients(port: int, n: int, seconds: float, seed: int) -> dict[str, int]:
    counts: dict[str, int] = {k: 0 for k in ("login", "select", "fetch_flags", "fetch_headers",
                                             "store", "search", "append", "noop")}
    deadline = time.monotonic() + seconds

    async def loop(i: int) -> None:
        rnd = random.Random(seed * 1000 + i)
        while time.monotonic() < deadline:
            await _session(port, rnd, counts)

    await asyncio.gather(*(loop(i) for i in range(n)))
    return counts


def _worker(port: int, n: int, seconds: float, seed: int) -> tuple[dict[str, int], float]:
    t0 = time.process_time()
    counts = asyncio.run(_clients(port, n, seconds, seed))
    return counts, time.process_time() - t0


def workload(port: int, clients: int, seconds: float) -> tuple[float, dict[str, int], float]:
    """(operations per second, counts, generator CPU share of one core per worker)."""
    workers = min(clients, 4)
    per = [clients // workers + (1 if i < clients % workers else 0) for i in range(workers)]
    t0 = time.monotonic()
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(_worker, [port] * workers, per, [seconds] * workers,
                                range(workers)))
    wall = time.monotonic() - t0
    counts: dict[str, int] = {}
    cpu = 0.0
    for c, used in results:
        cpu += used
        for k, v in c.items():
            counts[k] = counts.get(k, 0) + v
    return sum(counts.values()) / wall, counts, cpu / (wall * workers)


async def _idle_latency(port: int, rounds: int) -> float:
    idler, sender = await Client.open(port), await Client.open(port)
    for c in (idler, sender):
        await c.cmd(f'LOGIN {LOGIN} "{PASSWORD}"'.encode())
    await idler.cmd(b"SELECT INBOX")
    lat = []
    for i in range(rounds):
        idler.writer.write(b"i%d IDLE\r\n" % i)
        await idler.reader.readuntil(b"+ ")
        await idler.reader.readline()
        raw = message(900_000 + i)
        t0 = time.perf_counter()
        append = asyncio.ensure_future(sender.cmd(b"APPEND INBOX {%d+}\r\n" % len(raw) + raw))
        while True:
            line = await idler.reader.readline()
            if line.endswith(b"EXISTS\r\n"):
                break
        lat.append(time.perf_counter() - t0)
        await append
        idler.writer.write(b"DONE\r\n")
        await idler.reader.readuntil(b"i%d OK" % i)
        await idler.reader.readline()
    await idler.close()
    await sender.close()
    return statistics.median(lat)


# -- large folder and idle connections (rmail only) ----------------------------------------
def build_big(base: Path, n: int) -> None:
    store = MailStore(base / "rmail")
    folder = store.mailbox(DOMAIN, USER).create_folder("Big")
    status = folder.status()
    idx = FolderIndex(status.uidvalidity, n + 1, n)
    idx.uids = array("q", range(1, n + 1))
    idx.modseqs = array("q", range(1, n + 1))
    idx.flagsets = [(), ("\\Seen",)]
    idx.flag_ids = array("q", (0 if i % 50 == 0 else 1 for i in range(n)))
    idx.sizes = array("q", [3000] * n)
    idx.dates = array("q", range(1_600_000_000, 1_600_000_000 + n))
    with open(folder.layout.snapshot, "wb") as f:
        idx.write_snapshot(f)
    fsutil.atomic_write(folder.layout.journal, b"")


async def _big_timings(port: int) -> dict[str, float]:
    c = await Client.open(port)
    await c.cmd(f'LOGIN {LOGIN} "{PASSWORD}"'.encode())
    out = {}
    for name, command in (("SELECT (cold)", b"SELECT Big"), ("UID FETCH 1:* (FLAGS)",
                                                            b"UID FETCH 1:* (FLAGS)"),
                          ("UID SEARCH UNSEEN", b"UID SEARCH UNSEEN"),
                          ("SELECT (warm)", b"SELECT Big")):
        t0 = time.perf_counter()
        await c.cmd(command)
        out[name] = time.perf_counter() - t0
    await c.close()
    return out


# -- header SEARCH / SORT / THREAD (both servers) ---------------------------------------------
HEADER_FOLDER = "Headers"


def thread_message(n: int) -> bytes:
    """Message n of threads of five: a root, then replies referring to the root and the
    previous message; senders and subjects vary so SORT has work to do."""
    root = n - n % 5
    refs = "" if n == root else (f"In-Reply-To: <h{n - 1}@bench.example>\r\nReferences: "
                                 f"<h{root}@bench.example> <h{n - 1}@bench.example>\r\n")
    subject = f"{'Re: ' if n != root else ''}topic {(root * 7919) % 100_003}"
    return (f"From: Person {n % 211} <p{n % 211}@example.org>\r\nTo: {LOGIN}\r\n"
            f"Subject: {subject}\r\nDate: Mon, 1 Jan 2024 {n // 3600 % 24:02d}:"
            f"{n // 60 % 60:02d}:{n % 60:02d} +0000\r\nMessage-ID: <h{n}@bench.example>\r\n"
            f"{refs}MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
            f"Message {n} of the header benchmark.\r\n").encode()


def build_folder_rmail(base: Path, name: str, make: Callable[[int], bytes], n: int) -> None:
    """Folder `name` in rmail's store with messages ``make(0)`` .. ``make(n - 1)``, seen, the
    i-th received at 1_700_000_000 + i."""
    folder = MailStore(base / "rmail").mailbox(DOMAIN, USER).create_folder(name)
    for start in range(0, n, 1000):
        folder.append_many([(make(i), ("\\Seen",), 1_700_000_000 + i)
                            for i in range(start, min(n, start + 1000))])


def build_folder_dovecot(base: Path, name: str, make: Callable[[int], bytes], n: int,
                         tag: str) -> None:
    """The same folder as `build_folder_rmail` in Dovecot's Maildir (`tag` keeps the file
    names of different folders apart); the file times are the received times."""
    maildir = base / "mail" / LOGIN / f".{name}"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        raw = make(i)
        path = maildir / "cur" / f"{1_700_000_000 + i}.M{i}{tag},S={len(raw)}:2,S"
        path.write_bytes(raw)
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))
    nobody = pwd.getpwnam("nobody")
    subprocess.run(["chown", "-R", f"{nobody.pw_uid}:{nobody.pw_gid}", str(maildir)],
                   check=True)


HEADER_COMMANDS = (
    ("SEARCH HEADER Message-ID", b"UID SEARCH HEADER Message-ID <h%d@bench.example>"),
    ("SORT (SUBJECT)", b"UID SORT (SUBJECT) UTF-8 ALL"),
    ("THREAD REFERENCES", b"UID THREAD REFERENCES UTF-8 ALL"))


async def _header_timings(port: int, n: int) -> dict[str, tuple[float, float]]:
    """Per command: the warm time (median of three after a warm-up) and the time of the
    first run after a new message arrived (nothing remembered about the answer)."""
    c = await Client.open(port)
    await c.cmd(f'LOGIN {LOGIN} "{PASSWORD}"'.encode())
    await c.cmd(b"SELECT " + HEADER_FOLDER.encode())
    out = {}
    for k, (name, command) in enumerate(HEADER_COMMANDS):
        if b"%d" in command:
            command = command % (n * 2 // 3)
        await c.cmd(command)  # warm-up
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            reply = await c.cmd(command)
            times.append(time.perf_counter() - t0)
        if name.startswith("SEARCH") and b" %d" % (n * 2 // 3 + 1) not in reply:
            raise RuntimeError(f"{name}: unexpected reply {reply[:200]!r}")
        if name.startswith("SORT") and reply.count(b" ") < n:
            raise RuntimeError(f"{name}: short reply")
        raw = thread_message(n + k)
        await c.cmd(b"APPEND " + HEADER_FOLDER.encode() + b" {%d+}\r\n" % len(raw) + raw)
        await c.cmd(b"NOOP")
        t0 = time.perf_counter()
        await c.cmd(command)
        out[name] = (statistics.median(times), time.perf_counter() - t0)
    await c.close()
    return out


BODY_FOLDER = "BodySearch"
BODY_WORD = "zanzibar"
_WORDS = ["".join(random.Random(k).choice("abcdefghijklmnopqrstuvwxyz")
                  for _ in range(3 + k % 8)) for k in range(5000)]


def body_message(n: int, size: int = 3000) -> bytes:
    rng = random.Random(n)
    words = [rng.choice(_WORDS) for _ in range(size // 7)]
    if n % 100 == 0:
        words.insert(rng.randrange(len(words)), BODY_WORD)
    text = "\r\n".join(" ".join(words[k:k + 12]) for k in range(0, len(words), 12))
    return (f"From: Person {n % 211} <p{n % 211}@example.org>\r\nTo: {LOGIN}\r\n"
            f"Subject: notes {n}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
            f"Message-ID: <b{n}@bench.example>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n").encode()


def wait_body_indexed(base: Path, n: int, timeout: float = 3600) -> float:
    """Seconds until rmail's indexer (in the server) has indexed the body folder."""
    from rmail.store.searchindex import SearchIndex

    mailbox = MailStore(base / "rmail").mailbox(DOMAIN, USER)
    folder = mailbox.folder(BODY_FOLDER)
    last = max(folder.uids())
    index = SearchIndex(mailbox)
    started = time.monotonic()
    try:
        while (index.indexed_through(folder.id) or (0, 0))[1] < last:
            if time.monotonic() - started > timeout:
                raise RuntimeError("rmail's indexer did not finish")
            time.sleep(1)
            index.close()  # see the indexer's latest commit
    finally:
        index.close()
    return time.monotonic() - started


async def _body_timings(port: int, n: int) -> dict[str, float]:
    c = await Client.open(port)
    await c.cmd(f'LOGIN {LOGIN} "{PASSWORD}"'.encode())
    await c.cmd(b"SELECT " + BODY_FOLDER.encode())
    out = {}
    for key in ("BODY", "TEXT"):
        command = f"UID SEARCH {key} {BODY_WORD}".encode()
        reply = await c.cmd(command)  # warm-up (Dovecot opens its index, files get cached)
        if reply.count(b" ") < n // 100:
            raise RuntimeError(f"{key}: short reply {reply[:200]!r}")
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            await c.cmd(command)
            times.append(time.perf_counter() - t0)
        out[key] = statistics.median(times)
    await c.close()
    return out


async def _idle_memory(port: int, pid: int, n: int) -> tuple[int, int]:
    warm = await Client.open(port)  # one session first: imports and caches are not per client
    await warm.cmd(f'LOGIN {LOGIN} "{PASSWORD}"'.encode())
    await warm.cmd(b"SELECT INBOX")
    await asyncio.sleep(1)
    before = rss_kb(pid)
    clients = []
    for start in range(0, n, 100):
        batch = await asyncio.gather(*(Client.open(port) for _ in range(min(100, n - start))))
        for c in batch:
            await c.cmd(f'LOGIN {LOGIN} "{PASSWORD}"'.encode())
            await c.cmd(b"SELECT INBOX")
            c.writer.write(b"idle IDLE\r\n")
            await c.reader.readline()
        clients.extend(batch)
    await asyncio.sleep(2)
    after = rss_kb(pid)
    for c in clients:
        c.writer.close()
    await warm.close()
    return before, after


# -- main -------------------------------------------------------------------------------------
def restart_with_folder(base: Path, rset: tuple[Path, int], dset: tuple[Path, int] | None,
                        peers: list[Peer], name: str, make: Callable[[int], bytes], n: int,
                        tag: str) -> list[tuple[str, Peer]]:
    """Stop the servers in `peers`, give each store folder `name` of `n` messages, start
    them again (new processes, cold caches); `peers` is kept current for the cleanup."""
    for peer in peers:
        peer.stop()
    peers.clear()
    build_folder_rmail(base, name, make, n)
    if dset is not None:
        build_folder_dovecot(base / "dovecot", name, make, n, tag)
    peers.append(start_rmail(base, *rset))
    servers = [("rmail", peers[-1])]
    if dset is not None:
        peers.append(start_dovecot(base / "dovecot", *dset))
        servers.append(("dovecot", peers[-1]))
    return servers


@dataclass
class Result:
    rates: dict[tuple[str, int], float] = field(default_factory=dict)
    idle: dict[str, float] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--clients", default="1,20")
    p.add_argument("--big", type=int, default=100_000, help="0 skips the large folder")
    p.add_argument("--idle", type=int, default=2000, help="0 skips the idle connections")
    p.add_argument("--headers", type=int, default=100_000,
                   help="messages for header SEARCH/SORT/THREAD; 0 skips them")
    p.add_argument("--body", type=int, default=0,
                   help="messages for SEARCH BODY/TEXT against Dovecot; 0 skips them")
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    base = Path(tempfile.mkdtemp(prefix="rmail-bench-imap-", dir=args.dir or REPO.parent))
    os.chmod(base, 0o755)
    clients = [int(x) for x in args.clients.split(",")]
    result = Result()
    peers: list[Peer] = []
    try:
        say(f"work directory {base}; {args.messages} messages, {args.seconds:g} s per run")
        rconf, rport = setup_rmail(base, args.messages)
        dset = setup_dovecot(base / "dovecot", args.messages)
        servers: list[tuple[str, Peer]] = [("rmail", start_rmail(base, rconf, rport))]
        peers.append(servers[0][1])
        if dset is None:
            say("dovecot not installed (apt-get install dovecot-imapd): no ratios")
        else:
            peers.append(start_dovecot(base / "dovecot", *dset))
            servers.append(("dovecot", peers[-1]))
        if args.headers:
            say(f"building the {args.headers:,}-message header folder for both servers")
            servers = restart_with_folder(base, (rconf, rport), dset, peers, HEADER_FOLDER,
                                          thread_message, args.headers, "P2.hdr")
            say(f"\n## Header SEARCH / SORT / THREAD, {args.headers:,} messages "
                f"(warm, median of 3; load average {os.getloadavg()[0]:.1f})\n")
            timings = {name: asyncio.run(_header_timings(peer.port, args.headers))
                       for name, peer in servers}
            say("| command | rmail | Dovecot | ratio Dovecot/rmail (target >= 1.0) |")
            say("|---|---:|---:|---:|")
            for name, _ in HEADER_COMMANDS:
                for i, when in enumerate(("warm", "first after new mail")):
                    r = timings["rmail"][name][i]
                    d = timings["dovecot"][name][i] if "dovecot" in timings else None
                    say(f"| `{name}`, {when} | {r:.3f} s | " + (
                        f"{d:.3f} s | {d / r:.2f} |" if d else "- | - |"))
        if args.body:
            say(f"building the {args.body:,}-message body folder for both servers")
            servers = restart_with_folder(base, (rconf, rport), dset, peers, BODY_FOLDER,
                                          body_message, args.body, "P3.body")
            took = wait_body_indexed(base, args.body)
            say(f"rmail's indexer indexed them in {took:.0f} s after the server started")
            bodies = {name: asyncio.run(_body_timings(peer.port, args.body))
                      for name, peer in servers}
            say(f"\n## SEARCH BODY/TEXT, {args.body:,} messages (warm, median of 3; load "
                f"average {os.getloadavg()[0]:.1f})\n")
            say("| command | rmail (index) | Dovecot (no FTS: reads every message) | "
                "rmail / Dovecot (target <= 2) |")
            say("|---|---:|---:|---:|")
            for key in ("BODY", "TEXT"):
                r = bodies["rmail"][key]
                d = bodies["dovecot"][key] if "dovecot" in bodies else None
                say(f"| `UID SEARCH {key} {BODY_WORD}` | {r * 1000:.1f} ms | " + (
                    f"{d * 1000:.0f} ms | {r / d:.3f} |" if d else "- | - |"))
        for _, peer in servers:  # warm up: Dovecot indexes the Maildir on first SELECT
            workload(peer.port, 1, 1)
        say("\n## Mixed workload (operations per second)\n")
        say("| clients | server | ops/s | generator CPU | per-op counts |")
        say("|---:|---|---:|---:|---|")
        for n in clients:
            for name, peer in servers:  # same order every time: rmail, then Dovecot
                rate, counts, gen_cpu = workload(peer.port, n, args.seconds)
                result.rates[(name, n)] = rate
                say(f"| {n} | {name} | {rate:,.0f} | {gen_cpu:.0%} | "
                    + ", ".join(f"{k} {v}" for k, v in counts.items()) + " |")
        say("\n## IDLE wake-up (median of 20, APPEND to EXISTS)\n")
        for name, peer in servers:
            result.idle[name] = asyncio.run(_idle_latency(peer.port, 20))
            say(f"- {name}: {result.idle[name] * 1000:.1f} ms")
        if args.big:
            peers[0].stop()
            build_big(base, args.big)
            peer = start_rmail(base, rconf, rport)
            peers[0] = peer
            say(f"\n## rmail, folder of {args.big:,} messages (fresh server)\n")
            for name, secs in asyncio.run(_big_timings(peer.port)).items():
                say(f"- {name}: {secs:.3f} s")
        if args.idle:
            before, after = asyncio.run(_idle_memory(peers[0].port, peers[0].pid(), args.idle))
            say(f"\n## rmail, {args.idle} authenticated IDLE connections\n")
            say(f"- resident memory {before / 1024:.1f} MB -> {after / 1024:.1f} MB: "
                f"{(after - before) / args.idle:.1f} KB per connection (target <= 64 KB)")
        if len(servers) > 1:
            say("\n## Summary\n")
            say("| clients | rmail ops/s | Dovecot ops/s | ratio (target >= 0.5) |")
            say("|---:|---:|---:|---:|")
            for n in clients:
                r, d = result.rates[("rmail", n)], result.rates[("dovecot", n)]
                say(f"| {n} | {r:,.0f} | {d:,.0f} | {r / d:.2f} |")
    finally:
        for peer in peers:
            peer.stop()
        remove_work(base, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
