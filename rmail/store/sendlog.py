"""How many recipients a user submitted mail to, and when: the memory of the per-user 24-hour
recipient limit, kept in `{user_dir}/sent.log` so a restart does not reset it.

One line per accepted submission, `<unix time> <recipients>`, appended with O_APPEND (one
`write`, no fsync: a crash can forget the last few seconds of sending, which errs on the side
of the user, never on the side of a spammer who restarts nothing). Lines older than the
window are dropped when the file is rewritten, which happens once enough of them pile up.
A torn last line is ignored.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from pathlib import Path

from rmail.store import fsutil
from rmail.store.layout import Layout

__all__ = ["SendLog"]

REWRITE_AFTER = 1000  # expired lines tolerated in the file before it is rewritten


class SendLog:
    """One user's log. Not thread-safe: `RecipientLimiter` serialises access."""

    @classmethod
    def of(cls, layout: Layout, domain: str, username: str, window: float) -> SendLog:
        return cls(layout.sent_log(domain, username), window)

    def __init__(self, path: Path | None, window: float) -> None:
        """`path` None: kept in memory only (tests of the policy alone)."""
        self.path = path
        self.window = window
        self.entries: deque[tuple[float, int]] = deque()
        self.total = 0
        self._expired_in_file = 0
        self._load()

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        for line in raw.split(b"\n"):
            when, _, count = line.partition(b" ")
            try:
                entry = (float(when), int(count))
            except ValueError:
                continue  # a torn or foreign line
            if entry[1] > 0:
                self.entries.append(entry)
                self.total += entry[1]

    def expire(self, now: float) -> int:
        """Forget entries older than the window; returns the recipients still counted."""
        while self.entries and self.entries[0][0] <= now - self.window:
            self.total -= self.entries.popleft()[1]
            self._expired_in_file += 1
        if self._expired_in_file >= REWRITE_AFTER:
            self._rewrite()
        return self.total

    def add(self, now: float, count: int) -> None:
        self.entries.append((now, count))
        self.total += count
        if self.path is None:
            return
        line = f"{now:.3f} {count}\n".encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:  # the user was deleted meanwhile: nothing to remember
            return
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def _rewrite(self) -> None:
        if self.path is None:
            return
        body = "".join(f"{when:.3f} {count}\n" for when, count in self.entries).encode()
        with contextlib.suppress(FileNotFoundError):
            fsutil.atomic_write(self.path, body, durable=False, mode=0o600)
        self._expired_in_file = 0
