"""A user's delivery rules: filters and forwarding, one JSON document per user
(`mailrules.json`, see `rmail.store.layout`).

Every delivery reads it, in whichever worker process takes the connection, so reads are
cached per process and revalidated with one `stat` (inode, mtime, size: every write replaces
the file by rename, and a file written in the last two seconds is reread anyway, since a
reused inode with a coarse mtime could look unchanged). Writers run a change function on a
fresh read under the user's `mailrules.lock` (a thread lock plus `flock`, so workers and the
CLI serialise) and replace the file durably before returning: a 2xx from the API means every
worker's next delivery uses the new rules.

Document (version 1)::

    {"version": 1, "filters": [{"id", "name", "query", "action", "disabled", "created"}],
     "forward": ["addr", ...], "forwardKeep": true, "forwards": null | int}

``forwards`` is the admin-set limit of forwarded recipients per 24 hours (null: the default).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from rmail.mail.filters import MAX_FILTERS, Filter, load_filters, new_filter_id
from rmail.store import fsutil
from rmail.store.errors import CorruptStore, InvalidValue, NotFound
from rmail.store.layout import Layout

__all__ = ["MAILRULES_VERSION", "MailRules", "UserRules"]

MAILRULES_VERSION = 1
MAX_BYTES = 512 * 1024
MAX_FORWARD = 20  # addresses in a user's `forward` list
CACHE_SIZE = 10_000
T = TypeVar("T")


@dataclass(frozen=True)
class UserRules:
    """The parsed document; `EMPTY` for a user who has none."""

    filters: tuple[Filter, ...] = ()
    forward: tuple[str, ...] = ()
    forward_keep: bool = True
    forwards: int | None = None

    def forward_limit(self, default: int) -> int:
        """Forwarded recipients per 24 hours: the admin's `forwards`, else `default` (the
        server's `forwards_per_day`)."""
        return default if self.forwards is None else self.forwards

    @property
    def active(self) -> bool:
        """Whether delivery has anything to do for this user."""
        return bool(self.forward) or any(not f.disabled for f in self.filters)

    def to_doc(self) -> dict[str, Any]:
        return {"version": MAILRULES_VERSION, "filters": [f.to_doc() for f in self.filters],
                "forward": list(self.forward), "forwardKeep": self.forward_keep,
                "forwards": self.forwards}

    @classmethod
    def from_doc(cls, doc: Any) -> UserRules:
        if not isinstance(doc, dict):
            raise CorruptStore("mailrules.json must hold an object")
        try:
            filters = tuple(load_filters(doc.get("filters", ())))
        except (InvalidValue, TypeError) as exc:
            raise CorruptStore(f"mailrules.json has an invalid filter: {exc}") from exc
        forwards = doc.get("forwards")
        return cls(filters, tuple(doc.get("forward", ())), bool(doc.get("forwardKeep", True)),
                   forwards if isinstance(forwards, int) else None)


EMPTY = UserRules()


class MailRules:
    """Read and change the rules of the users under one mail root (one per process)."""

    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        self.layout = Layout(mail_root)
        self._cache: dict[tuple[str, str], tuple[tuple[int, int, int], UserRules]] = {}
        self._paths: dict[tuple[str, str], str] = {}  # every delivery asks: no Path per call
        self._lock = threading.Lock()

    def get(self, domain: str, username: str) -> UserRules:
        """The user's rules: one `stat` when unchanged since this process last read them."""
        path = self._paths.get((domain, username))
        if path is None:
            path = str(self.layout.mailrules_file(domain, username))
            if len(self._paths) >= CACHE_SIZE:
                self._paths.clear()
            self._paths[(domain, username)] = path
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return EMPTY
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        hit = self._cache.get((domain, username))
        if hit is not None and hit[0] == key and \
                st.st_mtime_ns < time.time_ns() - 2_000_000_000:
            return hit[1]
        rules = self._read(path)
        with self._lock:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[(domain, username)] = (key, rules)
        return rules

    @staticmethod
    def _read(path: str | os.PathLike[str]) -> UserRules:
        try:
            return UserRules.from_doc(fsutil.read_json(path, version=MAILRULES_VERSION))
        except FileNotFoundError:
            return EMPTY

    def update(self, domain: str, username: str,
               change: Callable[[UserRules], tuple[UserRules, T]]) -> T:
        """Run ``change`` on the current rules under the lock; write what it returns durably
        and hand back its second value. ``change`` raises to refuse (nothing is written)."""
        user_dir = self.layout.user_dir(domain, username)
        if not user_dir.is_dir():
            raise NotFound(f"no user {username}@{domain}")
        path = self.layout.mailrules_file(domain, username)
        with fsutil.locked(self.layout.mailrules_lock(domain, username)):
            new, result = change(self._read(path))
            data = fsutil.dump_json(new.to_doc())
            if len(data) > MAX_BYTES:
                raise InvalidValue("the filters would exceed their size limit")
            fsutil.atomic_write(path, data)
        return result

    # -- the operations the API offers ----------------------------------------------------------
    def add_filter(self, domain: str, username: str, make: Callable[[str], Filter]) -> Filter:
        """Append a filter made by ``make(new id)``; at most `MAX_FILTERS`."""
        def change(rules: UserRules) -> tuple[UserRules, Filter]:
            if len(rules.filters) >= MAX_FILTERS:
                raise InvalidValue(f"a user has at most {MAX_FILTERS} filters")
            ids = {f.id for f in rules.filters}
            new_id = new_filter_id()
            while new_id in ids:
                new_id = new_filter_id()
            made = make(new_id)
            return replace(rules, filters=(*rules.filters, made)), made
        return self.update(domain, username, change)

    def replace_filter(self, domain: str, username: str, filter_id: str,
                       edit: Callable[[Filter], Filter]) -> Filter:
        """Replace one filter in place (its position, so its order, is kept)."""
        def change(rules: UserRules) -> tuple[UserRules, Filter]:
            for i, old in enumerate(rules.filters):
                if old.id == filter_id:
                    new = edit(old)
                    filters = (*rules.filters[:i], new, *rules.filters[i + 1:])
                    return replace(rules, filters=filters), new
            raise NotFound(f"no filter {filter_id}")
        return self.update(domain, username, change)

    def delete_filter(self, domain: str, username: str, filter_id: str) -> None:
        def change(rules: UserRules) -> tuple[UserRules, None]:
            kept = tuple(f for f in rules.filters if f.id != filter_id)
            if len(kept) == len(rules.filters):
                raise NotFound(f"no filter {filter_id}")
            return replace(rules, filters=kept), None
        self.update(domain, username, change)

    def set_forwarding(self, domain: str, username: str, *,
                       forward: tuple[str, ...] | None = None, keep: bool | None = None,
                       forwards: int | bool | None = False) -> UserRules:
        """Change the user's forwarding; ``None`` (``False`` for ``forwards``) = unchanged."""
        def change(rules: UserRules) -> tuple[UserRules, UserRules]:
            new = rules
            if forward is not None:
                if len(forward) > MAX_FORWARD:
                    raise InvalidValue(f"forward has more than {MAX_FORWARD} addresses")
                new = replace(new, forward=tuple(dict.fromkeys(forward)))
            if keep is not None:
                new = replace(new, forward_keep=keep)
            if forwards is not False:
                new = replace(new, forwards=forwards if isinstance(forwards, int) else None)
            return new, new
        return self.update(domain, username, change)
