"""Per-user security state that changes at login time: `security.json` (+ `security.lock`).

- `totp_step`: the last TOTP time step accepted. A code is accepted only for a later step, so
  a code cannot be replayed, in any worker process, even within its 30-second window (RFC
  6238 §5.2). Written durably (fsync + rename) before the login succeeds.
- `asp_used`: per application password id, `last_used` (ISO 8601) and `last_ip`. Advisory:
  written without fsync, at most once a minute per password and process unless the IP changes.

Kept apart from `account.json` because a write there bumps the accounts generation, which
invalidates every process's account caches; logins must not do that.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from typing import Any

from rmail.store import fsutil
from rmail.store.layout import Layout

VERSION = 1
ASP_TOUCH_SECONDS = 60


class SecurityState:
    """Reads and updates `security.json` files under one mail root."""

    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        self.layout = Layout(mail_root)
        self._touched: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def read(self, domain: str, username: str) -> dict[str, Any]:
        try:
            doc = fsutil.read_json(self.layout.security_file(domain, username), version=VERSION)
        except FileNotFoundError:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        doc.setdefault("totp_step", -1)
        doc.setdefault("asp_used", {})
        doc.setdefault("recovery_used", [])
        return doc

    def _write(self, domain: str, username: str, doc: dict[str, Any], durable: bool) -> None:
        doc["version"] = VERSION
        fsutil.write_json(self.layout.security_file(domain, username), doc, durable=durable)

    def claim_totp_step(self, domain: str, username: str, step: int) -> bool:
        """Record `step` as used; False when it or a later step was used already."""
        with fsutil.locked(self.layout.security_lock(domain, username)):
            doc = self.read(domain, username)
            if step <= int(doc["totp_step"]):
                return False
            doc["totp_step"] = step
            self._write(domain, username, doc, durable=True)
        return True

    def claim_recovery(self, domain: str, username: str, digest: str) -> bool:
        """Record a recovery code (its keyed digest) as used; False when it was used."""
        with fsutil.locked(self.layout.security_lock(domain, username)):
            doc = self.read(domain, username)
            used = list(doc["recovery_used"])
            if digest in used:
                return False
            doc["recovery_used"] = [*used, digest]
            self._write(domain, username, doc, durable=True)
        return True

    def reset_totp(self, domain: str, username: str) -> None:
        """Forget used steps and recovery codes (a new secret or new codes start afresh)."""
        with fsutil.locked(self.layout.security_lock(domain, username)):
            doc = self.read(domain, username)
            doc["totp_step"] = -1
            doc["recovery_used"] = []
            self._write(domain, username, doc, durable=True)

    def asp_usage(self, domain: str, username: str) -> dict[str, dict[str, str]]:
        used = self.read(domain, username)["asp_used"]
        return used if isinstance(used, dict) else {}

    def due(self, domain: str, username: str, asp_id: str, ip: str) -> bool:
        """Whether `touch_asp` would write (cheap; for the event loop)."""
        last = self._touched.get((domain, username, asp_id))
        return last is None or last[1] != ip or time.monotonic() - last[0] > ASP_TOUCH_SECONDS

    def touch_asp(self, domain: str, username: str, asp_id: str, ip: str) -> None:
        """Note a use of an application password (throttled, see the module docstring)."""
        if not self.due(domain, username, asp_id, ip):
            return
        with self._lock:
            if len(self._touched) > 100_000:
                self._touched.clear()
            self._touched[(domain, username, asp_id)] = (time.monotonic(), ip)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        try:
            with fsutil.locked(self.layout.security_lock(domain, username)):
                doc = self.read(domain, username)
                used = doc["asp_used"] if isinstance(doc["asp_used"], dict) else {}
                used[asp_id] = {"last_used": now, "last_ip": ip}
                doc["asp_used"] = used
                self._write(domain, username, doc, durable=False)
        except FileNotFoundError:
            pass  # the user was deleted meanwhile

    def forget_asp(self, domain: str, username: str, asp_id: str) -> None:
        with fsutil.locked(self.layout.security_lock(domain, username)):
            doc = self.read(domain, username)
            if isinstance(doc["asp_used"], dict) and doc["asp_used"].pop(asp_id, None):
                self._write(domain, username, doc, durable=False)
