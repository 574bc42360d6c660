"""`DriveStore`: one per process and mail root. It hands out (cached) `UserDrive`s and owns the
share records, which every drive consults when a write comes through a share link."""

from __future__ import annotations

import functools
import os
import threading

from rmail.store.drive.shares import ShareStore
from rmail.store.drive.userdrive import UserDrive
from rmail.store.errors import NotFound
from rmail.store.events import Change, EventBus
from rmail.store.layout import Layout

__all__ = ["DriveStore"]


class DriveStore:
    """Entry point of the drive store: `DriveStore(mail_root).drive(domain, username)`."""

    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        self.layout = Layout(mail_root)
        self.shares = ShareStore(mail_root)
        self._drives: dict[tuple[str, str], UserDrive] = {}
        self._lock = threading.Lock()
        self.events: EventBus | None = None  # set by `Services`: commits are published

    def drive(self, domain: str, username: str) -> UserDrive:
        """The drive of an existing user (names already validated by the accounts layer)."""
        key = (domain, username)
        with self._lock:
            d = self._drives.get(key)
            if d is None:
                if not self.layout.user_dir(domain, username).is_dir():
                    raise NotFound(f"no user {username}@{domain}")
                d = UserDrive(self.layout.drive_dir(domain, username), domain, username,
                              self.shares)
                if self.events is not None:
                    d.index.on_commit = functools.partial(_publish, self.events, domain,
                                                          username)
                self._drives[key] = d
        d.open()
        return d

    def cached(self, domain: str, username: str) -> UserDrive | None:
        """The drive when it was opened before in this process (no I/O: safe on a loop)."""
        d = self._drives.get((domain, username))
        return d if d is not None and d.opened else None

    def forget(self, domain: str, username: str) -> None:
        with self._lock:
            self._drives.pop((domain, username), None)


def _publish(events: EventBus, domain: str, username: str, ctag: int) -> None:
    """A drive commit on the change bus: kind and folder "drive", modseq the drive's ctag."""
    events.publish(Change(domain, username, "drive", "drive", ctag))
