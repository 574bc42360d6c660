"""Three sessions and a delivery thread change one folder at random; every session checks the
invariants a client relies on, from the untagged responses it receives:

- a sequence number always maps to the UID the client was told (FETCH, EXPUNGE, EXISTS);
- EXPUNGE never arrives during FETCH, STORE or SEARCH by sequence number;
- a message's MODSEQ never decreases, and its flags arrive whole with it;
- after NOOP, `FETCH 1:* (UID)` matches the client's own model exactly.
"""

from __future__ import annotations

import random
import re
import threading

from tests.imap.conftest import ImapServer, RawClient, message

FETCH = re.compile(rb"^\* (\d+) FETCH \((.*)\)$", re.DOTALL)
UID = re.compile(rb"UID (\d+)")
MODSEQ = re.compile(rb"MODSEQ \((\d+)\)")
FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")


class Model:
    def __init__(self, client: RawClient, name: str) -> None:
        self.c = client
        self.name = name
        self.uids: list[int | None] = []
        self.modseq: dict[int, int] = {}
        self.errors: list[str] = []

    def check(self, cond: bool, what: str) -> None:
        if not cond:
            self.errors.append(f"{self.name}: {what}")

    def command(self, tag: bytes, cmd: bytes) -> list[bytes]:
        lines = self.c.cmd(tag, cmd)
        verb = cmd.split(b" ", 1)[0].upper()
        no_expunge = verb in (b"FETCH", b"STORE", b"SEARCH")
        for line in lines[:-1]:
            if line.endswith(b" EXPUNGE"):
                self.check(not no_expunge, f"EXPUNGE during {cmd!r}")
                n = int(line.split()[1])
                self.check(1 <= n <= len(self.uids), f"EXPUNGE {n} of {len(self.uids)}")
                del self.uids[n - 1]
            elif line.endswith(b" EXISTS"):
                n = int(line.split()[1])
                self.check(n >= len(self.uids), f"EXISTS {n} < {len(self.uids)}")
                self.uids.extend([None] * (n - len(self.uids)))
            elif (m := FETCH.match(line)) is not None:
                n, body = int(m.group(1)), m.group(2)
                self.check(1 <= n <= len(self.uids), f"FETCH {n} of {len(self.uids)}")
                if not 1 <= n <= len(self.uids):
                    continue
                if (u := UID.search(body)) is not None:
                    uid = int(u.group(1))
                    known = self.uids[n - 1]
                    self.check(known in (None, uid), f"seq {n} was UID {known}, now {uid}")
                    self.uids[n - 1] = uid
                    if (ms := MODSEQ.search(body)) is not None:
                        modseq = int(ms.group(1))
                        self.check(modseq >= self.modseq.get(uid, 0), f"MODSEQ of {uid} fell")
                        self.modseq[uid] = modseq
                        self.check(b"FLAGS" not in body or FLAGS.search(body) is not None,
                                   f"torn flags {body!r}")
        return lines

    def verify(self, tag: bytes) -> None:
        """NOOP, then compare `FETCH 1:* (UID)` with the model (again if the folder changed
        meanwhile: then the comparison would be unfair)."""
        for attempt in range(10):
            t = tag + b"%d" % attempt
            self.command(t + b"n", b"NOOP")
            if not self.uids:
                return
            lines = self.command(t + b"f", b"FETCH 1:* (UID)")
            if not lines[-1].startswith(t + b"f OK") or any(
                    line.endswith((b" EXISTS", b" EXPUNGE")) for line in lines):
                continue
            seen = []
            for line in lines[:-1]:  # unsolicited flag updates may follow: they carry FLAGS
                if FETCH.match(line) and b"FLAGS" not in line and \
                        (u := UID.search(line)) is not None:
                    seen.append(int(u.group(1)))
            self.check(seen == self.uids, f"model {self.uids} server {seen} lines {lines}")
            return


def session(imap: ImapServer, name: str, seed: int, rounds: int, out: list[Model]) -> None:
    rnd = random.Random(seed)
    c = imap.raw()
    c.cmd(b"L", b'LOGIN alice "secret password"')
    c.cmd(b"E", b"ENABLE CONDSTORE")
    model = Model(c, name)
    out.append(model)
    lines = model.command(b"S", b"SELECT INBOX")
    for line in lines:
        if line.endswith(b" EXISTS"):
            model.uids = [None] * int(line.split()[1])
    model.verify(b"v0")
    for i in range(rounds):
        tag = b"%s%d" % (name.encode(), i)
        op = rnd.random()
        n = len(model.uids)
        if op < 0.25 and n:
            seq = rnd.randint(1, n)
            flag = rnd.choice([b"\\Seen", b"\\Flagged", b"\\Deleted", b"$x"])
            model.command(tag, b"STORE %d %sFLAGS (%s)" % (seq, rnd.choice([b"+", b"-"]), flag))
        elif op < 0.35:
            raw = message(1000 + i)
            model.command(tag, b"APPEND INBOX {%d+}\r\n" % len(raw) + raw)
        elif op < 0.45:
            model.command(tag, b"EXPUNGE")
        elif op < 0.5 and n:
            model.command(tag, b"MOVE %d Archive" % rnd.randint(1, n))
        elif op < 0.65 and n:
            lo = rnd.randint(1, n)
            model.command(tag, b"FETCH %d:%d (FLAGS)" % (lo, rnd.randint(lo, n)))
        elif op < 0.75:
            model.command(tag, b"SEARCH UNSEEN")
        elif op < 0.85 and n:
            model.command(tag, b"UID STORE 1:* +FLAGS.SILENT ($y)")
        else:
            model.verify(tag)
    model.verify(b"end")


def test_random_concurrent_sessions(imap: ImapServer) -> None:
    for i in range(20):
        imap.deliver(message(i))
    models: list[Model] = []
    stop = threading.Event()

    def deliver() -> None:
        i = 0
        while not stop.is_set():
            imap.deliver(message(500 + i))
            i += 1
            stop.wait(0.02)

    threads = [threading.Thread(target=session, args=(imap, name, seed, 120, models))
               for name, seed in (("a", 1), ("b", 2), ("c", 3))]
    deliverer = threading.Thread(target=deliver)
    deliverer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    deliverer.join()
    assert len(models) == 3
    errors = [e for m in models for e in m.errors]
    assert not errors, errors[:10]
