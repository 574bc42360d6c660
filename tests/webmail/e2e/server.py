"""A real `rmail serve` in a subprocess on a temporary store, for the browser tests.

The browser talks to it over HTTPS (its own self-signed certificate) on an ephemeral port, the
way a person's browser would; the tests seed users and messages straight through the store
(which is safe while the server runs: every writer takes the store's locks), or through LMTP.
"""

from __future__ import annotations

import collections
import json
import re
import signal
import smtplib
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest

from rmail.config import LISTENER_NAMES, Config, ConfigError
from rmail.store.accounts import Accounts
from rmail.store.mailbox import Folder, MailStore
from tests.conftest import TEST_WORKERS
from tests.mailenv import DOMAIN, PASSWORD, password_hash

REPO = Path(__file__).resolve().parents[3]
ANNOUNCED = re.compile(r"^\s*(http|lmtp|smtp)\s+(?:https?://)?([\w.\[\]:-]+?):(\d+)/?\s")
_names = (f"u{i}" for i in range(1, 1_000_000))


def server_config(mail_root: Path, webmail: dict[str, Any] | None = None) -> dict[str, Any]:
    """HTTPS, LMTP and SMTP (the MX) on ephemeral loopback ports, everything else off;
    ``webmail`` settings
    are checked against the config schema (skip if this checkout has no such keys yet)."""
    listeners: dict[str, dict[str, object]] = {
        name: {"enabled": False, "port": 0} for name in LISTENER_NAMES}
    listeners["http"] = {"enabled": True, "host": "127.0.0.1", "port": 0, "tls": True}
    listeners["lmtp"] = {"enabled": True, "host": "127.0.0.1", "port": 0}
    listeners["smtp"] = {"enabled": True, "host": "127.0.0.1", "port": 0}
    data: dict[str, Any] = {"hostname": "localhost", "mail_root": str(mail_root),
                            "domains": [DOMAIN], "listeners": listeners,
                            "workers": TEST_WORKERS}  # 1, or 2 in CI's second pass
    if webmail:
        data["webmail"] = webmail
    try:
        Config.from_dict(data, source="webmail tests")
    except ConfigError as exc:
        pytest.skip(f"this checkout's config has no such webmail settings: {exc}")
    return data


class RmailServer:
    """`python -m rmail --config FILE serve`, stopped by its pid (SIGTERM, then SIGKILL)."""

    def __init__(self, workdir: Path, webmail: dict[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.mail_root = workdir / "mailstore"
        self.config_file = workdir / "config.json"
        self.config_file.write_text(json.dumps(server_config(self.mail_root, webmail)))
        self.log_file = workdir / "rmail.log"
        self.output: collections.deque[str] = collections.deque(maxlen=200)
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.lmtp_port = 0
        self.smtp_port = 0

    # -- process -------------------------------------------------------------------------------
    def start(self) -> RmailServer:
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rmail", "--config", str(self.config_file), "serve"],
                cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.proc.stdout is not None
        ports: dict[str, int] = {}
        for line in self.proc.stdout:
            self.output.append(line)
            if match := ANNOUNCED.match(line):
                ports[match.group(1)] = int(match.group(3))
            if len(ports) == 3:
                break
        if len(ports) < 3:
            self.stop()
            raise AssertionError(f"rmail serve did not announce http, lmtp and smtp:\n"
                                 f"{''.join(self.output)}\n{self.log_tail()}")
        self.port, self.lmtp_port, self.smtp_port = ports["http"], ports["lmtp"], ports["smtp"]
        # Keep reading stdout so that the server can never block on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def restart(self) -> RmailServer:
        """Stop, then start again on the same ports (an open page reconnects to them)."""
        self.stop()
        data = json.loads(self.config_file.read_text())
        for name, port in (("http", self.port), ("lmtp", self.lmtp_port),
                           ("smtp", self.smtp_port)):
            data["listeners"][name]["port"] = port
        self.config_file.write_text(json.dumps(data))
        return self.start()

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()
        self.proc = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- addresses -----------------------------------------------------------------------------
    def origin(self, host: str = "localhost") -> str:
        """``https://host:port``: the server answers under each of its names and addresses."""
        return f"https://{host}:{self.port}"

    def url(self, path: str, host: str = "localhost") -> str:
        return self.origin(host) + path

    # -- accounts and mail ---------------------------------------------------------------------
    def add_user(self, username: str | None = None, **fields: Any) -> str:
        """A fresh account (password `PASSWORD`) with the default folders; its address."""
        name = username or next(_names)
        Accounts(self.mail_root).create(DOMAIN, name, password_hash(), **fields)
        return f"{name}@{DOMAIN}"

    def folder(self, address: str, name: str = "INBOX", *, create: bool = False) -> Folder:
        local, domain = address.split("@")
        mailbox = MailStore(self.mail_root).mailbox(domain, local)
        if create:
            return mailbox.create_folder(name)
        return mailbox.folder(name)

    def append(self, address: str, raws: Iterable[bytes], folder: str = "INBOX", *,
               flags: Iterable[str] = (), create: bool = False) -> list[int]:
        """Store messages (as IMAP APPEND would); their UIDs, in order."""
        box = self.folder(address, folder, create=create)
        flagset = tuple(flags)
        results = box.append_many([(raw, flagset, None) for raw in raws])
        return [r.uid for r in results]

    def flags(self, address: str, uid: int, folder: str = "INBOX") -> set[str]:
        return set(self.folder(address, folder).record(uid).flags)

    def uids(self, address: str, folder: str = "INBOX") -> list[int]:
        return self.folder(address, folder).uids()

    def messages(self, address: str, folder: str = "INBOX") -> list[bytes]:
        box = self.folder(address, folder)
        return [box.read_message(uid) for uid in box.uids()]

    def smtp(self, sender: str, recipients: list[str], raw: bytes) -> None:
        """Deliver through the MX listener (SMTP), as a sending mail server would."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as client:
            client.sendmail(sender, recipients, raw)

    def lmtp(self, sender: str, recipients: list[str], raw: bytes) -> None:
        """Deliver through the LMTP listener, as a mail transfer agent would."""
        client = smtplib.LMTP(timeout=30)
        try:
            client.connect("127.0.0.1", self.lmtp_port)
            client.sendmail(sender, recipients, raw)
        finally:
            client.quit()


def make_message(subject: str = "Hello", *, sender: str = "Alice Example <alice@example.net>",
                 to: str = f"bob@{DOMAIN}", cc: str = "", body: str = "Hello there.\n",
                 html: str | None = None, date: Any = None,
                 attachments: Iterable[tuple[str, str, bytes]] = (),
                 headers: dict[str, str] | None = None) -> bytes:
    """A well-formed message; ``attachments`` are ``(filename, mime type, bytes)``."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    if date is not None:
        msg["Date"] = format_datetime(date)
    msg["Message-ID"] = make_msgid(domain="example.net")
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, mime, data in attachments:
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def numbered(n: int, start: int = 1) -> Iterator[bytes]:
    """``n`` small distinct messages, quick to build (for big folders)."""
    for i in range(start, start + n):
        yield (f"From: Sender {i} <s{i}@example.net>\r\nTo: bob@{DOMAIN}\r\n"
               f"Subject: Message {i}\r\nDate: Sun, 13 Apr 2025 14:30:00 +0000\r\n"
               f"Message-ID: <m{i}@example.net>\r\n\r\nBody of message {i}.\r\n").encode()


__all__ = ["DOMAIN", "PASSWORD", "RmailServer", "make_message", "numbered", "server_config"]
