"""A user's webmail preferences: one small JSON object in `preferences.json` (display
settings such as the time zone, the calendar's visible calendars...).

Keys are owned by the area that writes them (`timezone` by the webmail settings,
`calendar_visible` by the calendar UI); this module only reads and updates the document
atomically: `update` runs a change function under the file's lock on a fresh read, so two
areas (or two workers) changing different keys never lose each other's change.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rmail.store import fsutil
from rmail.store.errors import CorruptStore, InvalidValue, NotFound
from rmail.store.layout import Layout

__all__ = ["PREFERENCES_VERSION", "Preferences"]

PREFERENCES_VERSION = 1
MAX_BYTES = 256 * 1024


class Preferences:
    """Read and update preferences of the users under one mail root."""

    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        self.layout = Layout(mail_root)
        self._cache: dict[tuple[str, str], tuple[tuple[int, int], dict[str, Any]]] = {}

    def get(self, domain: str, username: str) -> dict[str, Any]:
        """The document without its version (an empty dict when the user has none). One stat
        when unchanged since the last read in this process; callers must not mutate it."""
        path = self.layout.preferences_file(domain, username)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return {}
        key = (st.st_ino, st.st_mtime_ns)
        cached = self._cache.get((domain, username))
        if cached is not None and cached[0] == key:
            return cached[1]
        doc = self._read(path)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[(domain, username)] = (key, doc)
        return doc

    def update(self, domain: str, username: str,
               change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply `change` to a fresh copy under the lock and write it durably."""
        if not self.layout.user_dir(domain, username).is_dir():
            raise NotFound(f"no user {username}@{domain}")
        path = self.layout.preferences_file(domain, username)
        with fsutil.locked(self.layout.preferences_lock(domain, username)):
            doc = dict(self._read(path)) if path.exists() else {}
            change(doc)
            data = fsutil.dump_json({**doc, "version": PREFERENCES_VERSION})
            if len(data) > MAX_BYTES:
                raise InvalidValue("preferences would exceed their size limit")
            fsutil.atomic_write(path, data)
        return doc

    @staticmethod
    def _read(path: os.PathLike[str]) -> dict[str, Any]:
        try:
            doc = fsutil.read_json(path, version=PREFERENCES_VERSION)
        except FileNotFoundError:
            return {}
        if not isinstance(doc, dict):
            raise CorruptStore(f"{path}: preferences must be an object")
        doc = dict(doc)
        doc.pop("version", None)
        return doc
