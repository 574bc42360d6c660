"""SMTP/LMTP delivery benchmark (issue 3, "Performance"), all figures from one run.

1. rmail's MX against a bare aiosmtpd server that discards mail, both driven by Postfix's
   ``smtp-source`` with 4 KB messages at 1, 10 and 50 concurrent sessions: messages per second
   and the ratio (target >= 0.6 at 10 sessions). rmail's figure is durable deliveries: each
   250 means the message and its index entry were fsynced.
2. rmail's LMTP listener against Dovecot's LMTP delivering into Maildir with ``mail_fsync =
   always`` (the same promise: fsync before the reply), ``smtp-source -L`` with 10 sessions
   (target >= 1.0).
3. rmail's MX against what a self-hoster would really run: a private Postfix instance as MX
   (its own ``main.cf``, queue and loopback port, ``virtual_transport`` to the Dovecot LMTP
   above, delivering into Maildir with ``mail_fsync = always``), timed from the first
   connection until every message is in the Maildir, 10 sessions (target rmail/Postfix >= 2.0).
4. Resident memory (VmRSS) of each rmail process holding 1,000 idle SMTP connections: the
   largest process, supervisor included, against issue 14's target (<= 80 MB per process);
   the sum over the processes is printed too (issue 3's <= 150 MB was set for one process,
   so it is judged only with ``workers: 1``).

``--workers auto,1`` runs one rmail per setting side by side: every point measures each of them
and the peer in the same round, so the ratios of the two settings share their peer figure
(default: ``RMAIL_BENCH_WORKERS``, ``auto`` = one worker per CPU). rmail's CPU is summed over
the supervisor and its workers, its memory judged per process; the targets are judged on the
first setting.

Absolute rates on a shared machine are noise; ratios measured in the same run are the figure.
Before each timed point the bench waits until every server of the run is idle and dirty pages
are written back (`quiet`): otherwise whoever runs right after an rmail shares the CPU with its
indexer catching up, and whoever runs after a peer with that peer's writeback.
Needs Debian's ``postfix`` (for smtp-source) and ``dovecot-lmtpd``; a missing peer is reported
and its ratio skipped. Not run in CI.

    [RMAIL_BENCH_WORKERS=1|auto] .venv/bin/python bench/smtp.py [--messages 2000]
        [--sessions 1,10,50] [--idle 1000] [--workers auto,1] [--parts mx,lmtp,postfix,memory]
        [--keep]

``--parts`` runs only the parts named (``--parts lmtp`` for the LMTP ratio alone; the Postfix
part starts the Dovecot LMTP it relays to by itself).
"""

from __future__ import annotations

import argparse
import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/smtp.py` from a checkout
    sys.path.insert(0, str(REPO))

from bench import workers as bench_workers  # noqa: E402
from bench.common import (  # noqa: E402
    cpu_seconds,
    free_port,
    listeners,
    remove_work,
    rss_each,
    say,
    serve_rmail,
    settle,
    wait_port,
    write_config,
)
from rmail.auth.passwords import hash_password  # noqa: E402
from rmail.store.accounts import Accounts  # noqa: E402
from rmail.store.mailbox import MailStore  # noqa: E402

DOMAIN = "example.com"
USER = "bench"
RCPT = f"{USER}@{DOMAIN}"
MSG_BYTES = 4096
IDLE_CONNECTIONS = 1000

TARGET_MX_RATIO = 0.6  # at 10 sessions
TARGET_LMTP_RATIO = 1.0
TARGET_IDLE_MB = 150.0  # issue 3: the whole server, judged with one process
TARGET_PROCESS_MB = 80.0  # issue 14: each process (supervisor and every worker)
TARGET_POSTFIX_RATIO = 2.0  # rmail MX / Postfix -> Dovecot LMTP, 10 sessions
PARTS = ("mx", "lmtp", "postfix", "memory")

POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {base}/queue
data_directory = {base}/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.example.test
mydestination =
local_recipient_maps =
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = texthash:{base}/conf/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}
default_transport = error:remote delivery disabled
relay_transport = error:remote delivery disabled
maillog_file = {base}/maillog
maillog_file_prefixes = {base}
"""

SINK = """\
import asyncio, sys
from aiosmtpd.smtp import SMTP

class Discard:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Discard(), loop=loop), "127.0.0.1",
                                      int(sys.argv[1]), backlog=512)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""

DOVECOT_CONF = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:{base}/mail/%u
mail_fsync = always
lmtp_save_to_detail_mailbox = no
passdb {{
  driver = passwd-file
  args = {base}/passwd
}}
userdb {{
  driver = passwd-file
  args = {base}/passwd
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
  process_min_avail = 4
  process_limit = 64
}}
"""


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


# Every server of the run: each point first waits until all of them are idle (`quiet`).
RUNNING: list[Server] = []


def quiet() -> None:
    """Let the previous point's background work end (rmail's indexer catching up on the
    messages just delivered, a peer's writeback) before the next contender is timed: each
    starts from an idle machine, whichever ran before it."""
    settle(*(s.proc.pid for s in RUNNING))


def timed(server: Server, port: int, sessions: int, messages: int, *,
          lmtp: bool = False) -> tuple[float, float]:
    """Messages per second and milliseconds of server CPU per message for one point."""
    quiet()
    before = cpu_seconds(server.proc.pid)
    rate = messages / smtp_source(port, sessions, messages, lmtp=lmtp)
    return rate, 1000 * (cpu_seconds(server.proc.pid) - before) / messages


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    ports: dict[str, int]
    pidfile: Path | None = None
    root: Path | None = None  # rmail's mail root

    def stop(self) -> None:
        if self.pidfile is not None and self.pidfile.exists():
            pid = int(self.pidfile.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_rmail(base: Path, workers: int | str) -> Server:
    root = base / f"rmail-{workers}"
    accounts = Accounts(root)
    accounts.create(DOMAIN, USER, hash_password("bench-password"), quota_mb=1_048_576)
    ports = {"smtp": free_port(), "lmtp": free_port()}
    config = write_config(base / f"rmail-{workers}.json", {
        "hostname": "mx.example.com", "mail_root": str(root), "domains": [DOMAIN],
        "listeners": listeners(**{name: {"port": port} for name, port in ports.items()}),
        "workers": workers})
    proc = serve_rmail(config, log=base / f"rmail-{workers}.log")
    for port in ports.values():
        wait_port(port, proc, greeting=b"", timeout=30)
    return Server(f"rmail ({workers})", proc, ports, root=root)


def start_sink(base: Path) -> Server:
    port = free_port()
    script = base / "sink.py"
    script.write_text(SINK)
    proc = subprocess.Popen([sys.executable, str(script), str(port)])
    wait_port(port, proc, greeting=b"", timeout=30)
    return Server("aiosmtpd", proc, {"smtp": port})


def start_dovecot(base: Path) -> Server | None:
    if shutil.which("dovecot") is None:
        return None
    home = base / "dovecot"
    home.mkdir(parents=True)
    os.chmod(home, 0o755)
    port = free_port()
    nobody = pwd.getpwnam("nobody")
    (home / "passwd").write_text(f"{RCPT}::{nobody.pw_uid}:{nobody.pw_gid}::{home}/home::\n")
    for sub in ("mail", "home"):
        (home / sub).mkdir()
    subprocess.run(["chown", "-R", f"{nobody.pw_uid}:{nobody.pw_gid}", str(home / "mail"),
                    str(home / "home")], check=True)
    conf = home / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(base=home, port=port))
    log = open(home / "dovecot.out", "ab")  # noqa: SIM115
    proc = subprocess.Popen(["dovecot", "-F", "-c", str(conf)], stdout=log,
                            stderr=subprocess.STDOUT)
    wait_port(port, proc, greeting=b"", timeout=30)
    return Server("dovecot", proc, {"lmtp": port}, home / "run" / "master.pid")


def start_postfix(base: Path, lmtp_port: int) -> Server | None:
    """A private Postfix (``postfix -c DIR start-fg``) relaying into Dovecot's LMTP."""
    if shutil.which("postfix") is None or shutil.which("postconf") is None:
        return None
    home = base / "postfix"
    conf = home / "conf"
    for sub in ("conf", "queue", "data"):
        (home / sub).mkdir(parents=True)
    os.chmod(home, 0o755)
    postfix_user = pwd.getpwnam("postfix")
    os.chown(home / "data", postfix_user.pw_uid, postfix_user.pw_gid)
    port = free_port()
    (conf / "main.cf").write_text(POSTFIX_MAIN.format(base=home, domain=DOMAIN,
                                                      lmtp_port=lmtp_port))
    (conf / "vmailbox").write_text(f"{RCPT} OK\n")
    shutil.copy("/usr/share/postfix/master.cf.dist", conf / "master.cf")
    for args in (["-F", "*/*/chroot = n"], ["-M#", "smtp/inet"],
                 ["-Me", f"127.0.0.1:{port}/inet = 127.0.0.1:{port} inet n - n - - smtpd"]):
        subprocess.run(["postconf", "-c", str(conf), *args], check=True)
    log = open(home / "postfix.out", "ab")  # noqa: SIM115
    proc = subprocess.Popen(["postfix", "-c", str(conf), "start-fg"], stdout=log,
                            stderr=subprocess.STDOUT)
    wait_port(port, proc, greeting=b"", timeout=30)
    return Server("postfix", proc, {"smtp": port}, home / "queue" / "pid" / "master.pid")


def postfix_timed(postfix: Server, base: Path, messages: int) -> float:
    """Messages per second from the first connection until all are in the Maildir."""
    target = maildir_count(base) + messages
    quiet()
    start = time.perf_counter()
    smtp_source(postfix.ports["smtp"], 10, messages)
    deadline = time.monotonic() + 600
    while maildir_count(base) < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"postfix delivered {maildir_count(base)} of {target}")
        time.sleep(0.01)
    return messages / (time.perf_counter() - start)


def smtp_source(port: int, sessions: int, messages: int, *, lmtp: bool = False) -> float:
    """Seconds smtp-source needs to hand over ``messages`` 4 KB messages."""
    args = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(MSG_BYTES),
            "-f", "sender@example.net", "-t", RCPT, "-M", "client.example.net"]
    if lmtp:
        args.append("-L")
    start = time.perf_counter()
    subprocess.run([*args, f"127.0.0.1:{port}"], check=True, timeout=3600)
    return time.perf_counter() - start


def rmail_count(server: Server) -> int:
    assert server.root is not None
    return len(MailStore(server.root).mailbox(DOMAIN, USER).folder("INBOX").uids())


def stored_all(server: Server, messages: int, port: str, sessions: int, *,
               lmtp: bool = False) -> tuple[float, float, bool]:
    """`timed`, and whether every message landed in the INBOX."""
    before = rmail_count(server)
    rate, cpu = timed(server, server.ports[port], sessions, messages, lmtp=lmtp)
    stored = rmail_count(server) - before
    if stored != messages:
        say(f"  {server.name} stored {stored} of {messages} messages!")
    return rate, cpu, stored == messages


def maildir_count(base: Path) -> int:
    maildir = base / "dovecot" / "mail" / RCPT
    return sum(len(os.listdir(maildir / sub)) for sub in ("new", "cur")
               if (maildir / sub).is_dir())


def idle_memory(server: Server, count: int) -> tuple[list[float], list[float]]:
    """RSS of each process (the supervisor first) before and while ``count`` clients sit
    idle after the greeting."""
    port = server.ports["smtp"]
    before = rss_each(server.proc.pid)
    socks = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.recv(200)
            socks.append(sock)
        time.sleep(1.0)
        return before, rss_each(server.proc.pid)
    finally:
        for sock in socks:
            sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", default="1,10,50")
    parser.add_argument("--idle", type=int, default=IDLE_CONNECTIONS,
                        help="idle connections for the memory figure")
    parser.add_argument("--workers", default=str(bench_workers()),
                        help="rmail settings measured side by side, e.g. auto,1")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"parts to run, of {','.join(PARTS)}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - set(PARTS):
        parser.error(f"--parts: choose from {','.join(PARTS)}")
    sessions = [int(s) for s in args.sessions.split(",")]
    settings: list[int | str] = [w if w == "auto" else int(w)
                                 for w in (x.strip() for x in args.workers.split(","))]
    if shutil.which("smtp-source") is None:
        say("smtp-source not found (apt-get install postfix): nothing to measure")
        return 1
    raise_fd_limit(args.idle * 2 + 256)

    base = Path(tempfile.mkdtemp(prefix="rmail-bench-smtp-"))
    os.chmod(base, 0o755)  # dovecot's unprivileged processes read below it
    servers: list[Server] = RUNNING
    ok = True
    mx: dict[int | str, float] = {}
    lmtp: dict[int | str, float] = {}
    vs_postfix: dict[int | str, float] = {}
    idle: dict[int | str, list[float]] = {}
    try:
        rmails = {}
        for w in settings:
            rmails[w] = start_rmail(base, w)
            servers.append(rmails[w])
        sink = start_sink(base) if "mx" in parts else None
        if sink is not None:
            servers.append(sink)
        say(f"# rmail SMTP/LMTP benchmark: {args.messages} messages of {MSG_BYTES} bytes "
            f"per point, {os.cpu_count()} CPUs, workers: {', '.join(map(str, settings))} "
            f"side by side, {base}")
        say()
        if sink is not None:
            say("## MX: rmail (durable) vs bare aiosmtpd (discards), smtp-source")
            say(f"load average {os.getloadavg()[0]:.2f}")
            say(f"{'sessions':>8} {'workers':>7} {'rmail msg/s':>12} {'aiosmtpd msg/s':>15} "
                f"{'ratio':>6} {'rmail CPU ms/msg':>17} {'aiosmtpd CPU ms/msg':>20}")
            for n in sessions:
                measured = {}
                for w, rmail in rmails.items():
                    r, r_cpu, complete = stored_all(rmail, args.messages, "smtp", n)
                    ok = ok and complete
                    measured[w] = (r, r_cpu)
                a, a_cpu = timed(sink, sink.ports["smtp"], n, args.messages)
                for w, (r, r_cpu) in measured.items():
                    say(f"{n:>8} {w!s:>7} {r:>12.0f} {a:>15.0f} {r / a:>6.2f} {r_cpu:>17.2f} "
                        f"{a_cpu:>20.2f}")
                    if n == 10:
                        mx[w] = r / a

        dovecot = start_dovecot(base) if parts & {"lmtp", "postfix"} else None
        if dovecot is not None:
            servers.append(dovecot)
        if "lmtp" in parts:
            say()
            say("## LMTP, 10 sessions: rmail vs Dovecot LMTP into Maildir (mail_fsync = always)")
            say(f"load average {os.getloadavg()[0]:.2f}")
            measured = {}
            for w, rmail in rmails.items():
                r, r_cpu, complete = stored_all(rmail, args.messages, "lmtp", 10, lmtp=True)
                ok = ok and complete
                measured[w] = (r, r_cpu)
            if dovecot is None:
                for w, (r, r_cpu) in measured.items():
                    say(f"workers {w}: rmail {r:.0f} msg/s ({r_cpu:.2f} ms CPU per message); "
                        "dovecot not installed (apt-get install dovecot-lmtpd)")
            else:
                d, d_cpu = timed(dovecot, dovecot.ports["lmtp"], 10, args.messages, lmtp=True)
                if maildir_count(base) != args.messages:
                    say(f"  dovecot stored {maildir_count(base)} of {args.messages}!")
                for w, (r, r_cpu) in measured.items():
                    lmtp[w] = r / d
                    say(f"workers {w}: rmail {r:.0f} msg/s ({r_cpu:.2f} ms CPU per message), "
                        f"dovecot {d:.0f} msg/s ({d_cpu:.2f} ms), ratio {lmtp[w]:.2f}")

        if "postfix" in parts:
            say()
            say("## MX, 10 sessions: rmail vs Postfix -> Dovecot LMTP into Maildir, until stored")
            postfix = start_postfix(base, dovecot.ports["lmtp"]) if dovecot is not None else None
            if postfix is None:
                say("postfix or dovecot not installed: skipped")
            else:
                servers.append(postfix)
                say(f"load average {os.getloadavg()[0]:.2f}")
                measured = {}
                for w, rmail in rmails.items():
                    r, _, complete = stored_all(rmail, args.messages, "smtp", 10)
                    ok = ok and complete
                    measured[w] = (r, 0.0)
                p = postfix_timed(postfix, base, args.messages)
                for w, (r, _) in measured.items():
                    vs_postfix[w] = r / p
                    say(f"workers {w}: rmail {r:.0f} msg/s, postfix+dovecot {p:.0f} msg/s, "
                        f"ratio {vs_postfix[w]:.2f}")

        if "memory" in parts:
            say()
            say(f"## Memory with {args.idle} idle SMTP connections")
            for w, rmail in rmails.items():
                idle_before, idle[w] = idle_memory(rmail, args.idle)
                say(f"workers {w}: rmail RSS by process (the supervisor first) "
                    f"{', '.join(f'{m:.0f}' for m in idle_before)} MB before, "
                    f"{', '.join(f'{m:.0f}' for m in idle[w])} MB with {args.idle} "
                    f"connections (sum {sum(idle_before):.0f} -> {sum(idle[w]):.0f} MB)")

        say()
        say(f"load average {os.getloadavg()[0]:.2f}")
        say("## Summary (target)")
        for w in settings:
            say(f"workers: {w}")
            if w in mx:
                say(f"MX ratio at 10 sessions   {mx[w]:.2f}  (>= {TARGET_MX_RATIO})  "
                    f"{'ok' if mx[w] >= TARGET_MX_RATIO else 'MISSED'}")
            if w in lmtp:
                say(f"LMTP ratio vs dovecot     {lmtp[w]:.2f}  (>= {TARGET_LMTP_RATIO})  "
                    f"{'ok' if lmtp[w] >= TARGET_LMTP_RATIO else 'MISSED'}")
            if w in vs_postfix:
                say(f"MX ratio vs postfix       {vs_postfix[w]:.2f}  "
                    f"(>= {TARGET_POSTFIX_RATIO})  "
                    f"{'ok' if vs_postfix[w] >= TARGET_POSTFIX_RATIO else 'MISSED'}")
            if w in idle:
                largest, total = max(idle[w]), sum(idle[w])
                say(f"RSS of the largest process, {args.idle} idle sessions   {largest:.0f} MB  "
                    f"(<= {TARGET_PROCESS_MB:.0f} each)  "
                    f"{'ok' if largest <= TARGET_PROCESS_MB else 'MISSED'}")
                verdict = ("" if len(idle[w]) > 1 else
                           f"  (<= {TARGET_IDLE_MB:.0f})  "
                           f"{'ok' if total <= TARGET_IDLE_MB else 'MISSED'}")
                say(f"RSS of all processes, {args.idle} idle sessions   {total:.0f} MB{verdict}")
    finally:
        for server in reversed(servers):
            server.stop()
        remove_work(base, args.keep)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
