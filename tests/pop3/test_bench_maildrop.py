"""bench/pop3.py's large maildrop and its client's multi-line reads, against a real server
with real poplib beside it.

The benchmark's `--big` step "hung" under load (README, POP3 vs Dovecot): the server had
answered everything and waited for the next command, the client waited for the end of a
reply. Two faults met there, both reproduced here without timing: the maildrop the benchmark
writes (an index snapshot without message files) lost its last 256 entries in every process
that opened it (the store's crash recovery, `Folder._verify_tail`), so a two-worker server
emptied the smoke test's 500 messages; and the client never found the end of the empty UIDL
listing that followed, because it looked for CRLF-dot-CRLF after the status line's CRLF.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench import pop3 as bench_pop3
from rmail.auth.passwords import hash_password
from rmail.store.accounts import Accounts
from rmail.store.groupcommit import MAX_BATCH
from rmail.store.mailbox import MailStore
from tests.pop3.conftest import ADDRESS, DOMAIN, PASSWORD, USER, Pop3Server, StartPop3

BIG = 2 * MAX_BATCH - 12  # the smoke test's --big 500: two processes' checks used to empty it


def _count(root: Path) -> int:
    """The INBOX as a new process sees it: a fresh `MailStore` checks the folder's tail once,
    as the worker that logs a client in and the supervisor's search indexer each do."""
    return len(MailStore(root).mailbox(DOMAIN, USER).folder("INBOX").index())


def test_big_maildrop_survives_every_process_that_opens_it(tmp_path: Path,
                                                           start_pop3: StartPop3) -> None:
    root = tmp_path / "store"
    Accounts(root).create(DOMAIN, USER, hash_password(bench_pop3.PASSWORD))
    bench_pop3.build_big(root, BIG, USER, domain=DOMAIN)
    assert [_count(root) for _ in range(3)] == [BIG] * 3  # was 244, 0, 0

    pop3 = start_pop3(mail_root=root)
    client = pop3.login(password=bench_pop3.PASSWORD)
    count, octets = client.stat()
    assert count == BIG and octets == BIG * len(bench_pop3.message(1, 4096))
    _, listing, _ = client.uidl()
    assert len(listing) == BIG
    assert client.quit().startswith(b"+OK")
    # the benchmark's own step: login (checking the count), STAT, UIDL, QUIT
    figures = asyncio.run(bench_pop3._big_once(pop3.port, ADDRESS, BIG))
    assert set(figures) == {"connect + login", "STAT + UIDL"}


def _bench_session(pop3: Pop3Server, *commands: bytes) -> list[bytes]:
    """The bodies of the multi-line replies to `commands`, read by the benchmark's client."""
    async def run() -> list[bytes]:
        c = await bench_pop3.Client.open(pop3.port, tls=False)
        await c.cmd(b"USER " + ADDRESS.encode())
        await c.cmd(b"PASS " + PASSWORD.encode())
        bodies = [await c.multi(command) for command in commands]
        await c.close()
        return bodies

    return asyncio.run(run())


def test_bench_client_reads_empty_listings(pop3: Pop3Server) -> None:
    client = pop3.login()
    assert client.uidl()[1] == [] and client.list()[1] == []  # poplib: empty, and answered
    client.quit()
    assert _bench_session(pop3, b"UIDL", b"LIST", b"UIDL") == [b".\r\n"] * 3


def test_bench_client_finds_the_end_of_every_body(pop3: Pop3Server) -> None:
    """One-line listings, and a message whose lines end in dots or start with one (stuffed):
    the client returns exactly the body poplib reads, termination line included."""
    raw = (b"Subject: dots\r\n\r\n.\r\nend.\r\n..two\r\nlast line.\r\n")
    pop3.deliver(raw)
    client = pop3.login()
    _, lines, _ = client.retr(1)
    _, uidl, _ = client.uidl()
    client.quit()
    retr, listing, top = _bench_session(pop3, b"RETR 1", b"UIDL", b"TOP 1 0")
    assert [line[1:] if line.startswith(b"..") else line  # poplib undoes the stuffing
            for line in retr.split(b"\r\n")[:-2]] == lines
    assert retr.endswith(b"last line.\r\n.\r\n")
    assert listing == uidl[0] + b"\r\n.\r\n"
    assert top == b"Subject: dots\r\n\r\n.\r\n"
