"""The per-user auth log: `authlog.jsonl`, one JSON object a line, newest last.

Entries record logins (success and failure), password changes, two-factor and application
password changes and lockouts. Each has `id` (24 hex digits, time-ordered: 14 of microseconds
since the epoch, 10 random), `created` (ISO 8601 UTC) and what the caller gave (`action`,
`result`, `protocol`, `scope`, `asp`, `ip`, `userAgent`...).

Durability: a line is appended with one `write` under the lock and not fsynced: a login must
not wait for a disk flush (fsync costs a millisecond or more; the log may cost at most one), so
a crash can lose the last lines written; a torn last line is skipped by readers. Compaction
(when the file passes `COMPACT_BYTES`) drops entries older than `RETENTION_DAYS` and keeps at
most `MAX_ENTRIES`, by temp file + fsync + rename under the lock, so appenders in any process
never write into a replaced file.

Lock rule: `authlog.lock` (flock sidecar) is held by every append and by compaction; nothing
else is done while it is held. `try_append` never waits for it (for the event loop).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from typing import Any

import orjson

from rmail.store import fsutil
from rmail.store.layout import Layout

RETENTION_DAYS = 30
COMPACT_BYTES = 512 * 1024
MAX_ENTRIES = 5000
MAX_FIELD = 300  # characters kept of any string field (a user agent can be long)


def new_id(now: float | None = None) -> str:
    micros = int((time.time() if now is None else now) * 1_000_000)
    return f"{micros:014x}{secrets.token_hex(5)}"


def id_time(entry_id: str) -> float:
    return int(entry_id[:14], 16) / 1_000_000


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_FIELD]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return str(value)[:MAX_FIELD]


class AuthLog:
    """Append and read users' auth logs under one mail root."""

    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        self.layout = Layout(mail_root)

    def make_entry(self, fields: dict[str, Any], now: float | None = None) -> dict[str, Any]:
        ts = time.time() if now is None else now
        entry = {"id": new_id(ts), **{k: _clean(v) for k, v in fields.items()},
                 "created": _iso(ts)}
        return entry

    def append(self, domain: str, username: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Append one entry (waiting for the lock); returns it."""
        entry = self.make_entry(fields)
        with fsutil.locked(self.layout.authlog_lock(domain, username)):
            self._write(domain, username, entry)
        return entry

    def try_append(self, domain: str, username: str, entry: dict[str, Any]) -> bool:
        """Append without waiting: False when the lock is busy (then call `append_entry`
        in a thread). Cheap enough for the event loop: an flock and one small write."""
        fd = fsutil.try_flock(self.layout.authlog_lock(domain, username))
        if fd is None:
            return False
        try:
            self._write(domain, username, entry)
        finally:
            os.close(fd)
        return True

    def append_entry(self, domain: str, username: str, entry: dict[str, Any]) -> None:
        with fsutil.locked(self.layout.authlog_lock(domain, username)):
            self._write(domain, username, entry)

    def _write(self, domain: str, username: str, entry: dict[str, Any]) -> None:
        path = self.layout.authlog_file(domain, username)
        line = orjson.dumps(entry) + b"\n"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            return  # the user was deleted meanwhile
        try:
            size = os.fstat(fd).st_size
            if size and not self._ends_with_newline(fd, size):
                line = b"\n" + line  # a torn line from a crash stays a line of its own
            os.write(fd, line)
            size += len(line)
        finally:
            os.close(fd)
        if size > COMPACT_BYTES:
            self._compact(domain, username)

    @staticmethod
    def _ends_with_newline(fd: int, size: int) -> bool:
        return os.pread(fd, 1, size - 1) == b"\n"

    def _compact(self, domain: str, username: str) -> None:
        """Under the lock: keep the last `MAX_ENTRIES` entries of the last 30 days."""
        path = self.layout.authlog_file(domain, username)
        kept = self._read(path)[-MAX_ENTRIES:]
        data = b"".join(orjson.dumps(e) + b"\n" for e in kept)
        fsutil.atomic_write(path, data, mode=0o600)

    def _read(self, path: Any) -> list[dict[str, Any]]:
        """Entries of the retention window, oldest first; torn or foreign lines skipped."""
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return []
        horizon = time.time() - RETENTION_DAYS * 86400
        out = []
        for line in raw.split(b"\n"):
            if not line:
                continue
            try:
                entry = orjson.loads(line)
                if id_time(entry["id"]) >= horizon:
                    out.append(entry)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
        return out

    def entries(self, domain: str, username: str) -> list[dict[str, Any]]:
        """The user's entries of the last 30 days, newest first."""
        entries = self._read(self.layout.authlog_file(domain, username))
        entries.sort(key=lambda e: e["id"], reverse=True)
        return entries


PUBLIC_FIELDS = ("id", "action", "result", "protocol", "scope", "asp", "ip", "userAgent",
                 "reason", "created")


def public_entry(entry: dict[str, Any]) -> dict[str, str]:
    """An entry as the API and the webmail show it: every field, as a string."""
    return {name: str(entry.get(name, "") or "") for name in PUBLIC_FIELDS}
