"""SIGKILL `bin/rmail serve` while several clients deliver: after a restart, every message
that got its 250 is in the mailbox, byte for byte."""

from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

from rmail.config import LISTENER_NAMES
from rmail.store.accounts import Accounts
from rmail.store.mailbox import MailStore
from tests.mailenv import DOMAIN, body_of, password_hash

REPO = Path(__file__).resolve().parents[2]
CLIENTS = 4
ACKED_BEFORE_KILL = 60


def start(config_file: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, str(REPO / "bin" / "rmail"), "--config",
                             str(config_file), "serve"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if match := re.search(r"^\s*smtp\s+127\.0\.0\.1:(\d+)", line):
            return proc, int(match.group(1))
    finish(proc, signal.SIGKILL)
    raise AssertionError("rmail serve did not announce its smtp listener")


def finish(proc: subprocess.Popen[str], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout=60)
    if proc.stdout is not None:
        proc.stdout.close()


def client(port: int, n: int, acked: list[tuple[str, bytes]], stop: threading.Event) -> None:
    """Deliver until the server dies; record what got a 250."""
    i = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                while not stop.is_set():
                    rcpt = "team" if i % 3 == 0 else "bob"
                    body = os.urandom(300 + 97 * (i % 40)).hex()
                    raw = (f"From: c{n}@example.net\r\nTo: {rcpt}@{DOMAIN}\r\n"
                           f"Subject: client {n} message {i}\r\n\r\n").encode() + \
                        b"".join(body[j:j + 76].encode() + b"\r\n"
                                 for j in range(0, len(body), 76))
                    smtp.sendmail(f"c{n}@example.net", [f"{rcpt}@{DOMAIN}"], raw)
                    acked.append((rcpt, raw))  # the 250 after DATA arrived
                    i += 1
        except (OSError, smtplib.SMTPException):
            return  # killed


def stored_bodies(root: Path, user: str) -> list[bytes]:
    folder = MailStore(root).mailbox(DOMAIN, user).folder("INBOX")
    return [body_of(folder.read_message(uid)) for uid in folder.uids()]


def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    root = tmp_path / "mailstore"
    accounts = Accounts(root)
    for user in ("bob", "alice"):
        accounts.create(DOMAIN, user, password_hash())
    accounts.set_alias(DOMAIN, "team", "bob,alice")
    listeners = {name: {"enabled": name == "smtp", "port": 0} for name in LISTENER_NAMES}
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"hostname": "mx.example.com", "mail_root": str(root),
                                       "domains": [DOMAIN], "listeners": listeners}))

    proc, port = start(config_file)
    acked: list[tuple[str, bytes]] = []
    stop = threading.Event()
    threads = [threading.Thread(target=client, args=(port, n, acked, stop))
               for n in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(acked) < ACKED_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        finish(proc, signal.SIGKILL)  # mid-delivery for the other clients
    finally:
        stop.set()
        finish(proc, signal.SIGKILL)
        for t in threads:
            t.join(timeout=60)
    assert len(acked) >= ACKED_BEFORE_KILL

    check = subprocess.run([sys.executable, str(REPO / "bin" / "rmail"), "--config",
                            str(config_file), "check"], cwd=REPO, capture_output=True,
                           text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr

    bob, alice = stored_bodies(root, "bob"), stored_bodies(root, "alice")
    for rcpt, raw in acked:
        assert raw in bob, f"acknowledged message lost: {raw[:60]!r}"
        if rcpt == "team":
            assert raw in alice
    assert len(set(bob)) == len(bob)  # nothing delivered twice

    # The restarted server serves and delivers on the same store.
    proc, port = start(config_file)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail("a@example.net", [f"bob@{DOMAIN}"], b"Subject: after\r\n\r\nok\r\n")
    finally:
        finish(proc, signal.SIGTERM)
    assert b"Subject: after\r\n\r\nok\r\n" in stored_bodies(root, "bob")
