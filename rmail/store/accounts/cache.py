"""Who exists, in memory: the address map and the domain records of one mail root, shared by
every process that opens it.

The map is built by scanning the account files and brought up to date when `accounts.gen`
changes (every account or alias write bumps it), so the CLI can add a user while the server
runs and the server sees it on the next lookup. Each bump first appends what changed to
`accounts.changes` (`COUNTER DOMAIN USER` lines, a hint rather than a record): a reader
re-reads just those files instead of every account, and rescans everything when the log has
a gap, was started afresh or says `*`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rmail.store import fsutil
from rmail.store.accounts.records import DomainRecord
from rmail.store.errors import StaleCache
from rmail.store.layout import Layout

CHANGES_MAX_BYTES = 1024 * 1024  # accounts.changes starts afresh beyond this


def _account_addresses(doc: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """What the address map needs of an account.json."""
    return doc["domain"], doc["username"], tuple(doc.get("addresses", ()))


_UNPINNED = object()  # `Accounts.pinned` is not active on this thread


class AccountCache:
    """The address map and the domain records of one mail root, kept in memory and brought
    up to date through `accounts.gen` and `accounts.changes`; the base of `Accounts`, whose
    writes announce themselves through `_bump`."""

    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        self.layout = Layout(mail_root)
        self._gen_path = str(self.layout.accounts_gen)  # stat on every authenticated request
        self._lock = threading.Lock()
        self._pin = threading.local()  # `pinned`: this thread's generation, read once
        self._gen_key: tuple[int, int] | None = None
        self._by_address: dict[str, tuple[str, str]] = {}
        self._domains: dict[str, DomainRecord] = {}
        self._owned: dict[tuple[str, str], tuple[str, ...]] = {}  # user -> its addresses
        self._gen_n: int | None = None                 # the counter the maps reflect
        self._log_at: tuple[int, int] | None = None    # (inode, offset) read up to
        # path -> (stat key, parsed) of the files the last scan read: see _scan
        self._scan_cache: dict[str, tuple[tuple[int, int, int], Any]] = {}

    # -- generation / cache -------------------------------------------------------------------
    def _bump(self, *changed: tuple[str, str]) -> None:
        """Announce a change: append what changed to `accounts.changes` (one line per
        (domain, username); username "" for the domain record), then bump the counter in
        `accounts.gen`. Readers apply the logged changes to their address map instead of
        rescanning every account; no `changed` (or a gap in the log) makes them rescan."""
        gen = self.layout.accounts_gen
        fsutil.ensure_dir(gen.parent)
        with fsutil.locked(self._accounts_lock):
            try:
                n = int(gen.read_text() or 0)
            except (FileNotFoundError, ValueError):
                n = 0
            lines = "".join(f"{n + 1} {d} {u}\n" for d, u in changed) or f"{n + 1} *\n"
            log = self._changes_path
            try:
                size = os.path.getsize(log)
            except FileNotFoundError:
                size = 0
            if size > CHANGES_MAX_BYTES:  # start afresh: a new inode sends readers to rescan
                fsutil.atomic_write(log, lines.encode(), durable=False)
            else:  # a hint, not a record: lost lines (a crash) only cost a rescan
                fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, lines.encode())
                finally:
                    os.close(fd)
            fsutil.atomic_write(gen, str(n + 1).encode())

    @property
    def _changes_path(self) -> str:
        return f"{self.layout.root}/accounts.changes"

    def _counter(self) -> int | None:
        try:
            return int(self.layout.accounts_gen.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return None

    def _log_end(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._changes_path)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_size

    def _catch_up(self) -> bool:
        """Apply the change log since the last scan to the cached maps; False when that is
        not possible (log rotated, a gap, an unknown change) and a rescan is needed."""
        if self._gen_n is None or self._log_at is None:
            return False
        target = self._counter()
        if target is None or target < self._gen_n:
            return False
        ino, pos = self._log_at
        try:
            with open(self._changes_path, "rb") as f:
                if os.fstat(f.fileno()).st_ino != ino:
                    return False
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            return False
        changes: list[tuple[str, str]] = []
        expected = self._gen_n + 1
        consumed = 0
        for raw in data.split(b"\n")[:-1]:  # the part after the last newline is unfinished
            parts = raw.decode("utf-8", "replace").split(" ")
            try:
                counter = int(parts[0])
            except ValueError:
                return False
            if counter > target:
                break  # written after the counter we read: next time
            consumed += len(raw) + 1
            if counter < self._gen_n + 1:
                continue
            if counter not in (expected, expected - 1) or len(parts) != 3:
                return False  # a gap, or an unknown change ("N *")
            expected = counter + 1
            changes.append((parts[1], parts[2]))
        if expected != target + 1 and target != self._gen_n:
            return False
        by_address, domains = dict(self._by_address), dict(self._domains)
        owned = dict(self._owned)
        for domain, username in dict.fromkeys(changes):
            if not username:
                self._apply_domain(domain, by_address, domains, owned)
            else:
                self._apply_user(domain, username, by_address, owned)
        self._by_address, self._domains, self._owned = by_address, domains, owned
        self._gen_n, self._log_at = target, (ino, pos + consumed)
        return True

    def _apply_domain(self, domain: str, by_address: dict[str, tuple[str, str]],
                      domains: dict[str, DomainRecord],
                      owned: dict[tuple[str, str], tuple[str, ...]]) -> None:
        try:
            domains[domain] = DomainRecord.from_doc(
                fsutil.read_json(self.layout.domain_file(domain), version=1))
        except FileNotFoundError:  # the domain is gone, with its users
            domains.pop(domain, None)
            for owner in [o for o in owned if o[0] == domain]:
                for addr in owned.pop(owner):
                    if by_address.get(addr) == owner:
                        del by_address[addr]

    def _apply_user(self, domain: str, username: str, by_address: dict[str, tuple[str, str]],
                    owned: dict[tuple[str, str], tuple[str, ...]]) -> None:
        owner = (domain, username)
        for addr in owned.pop(owner, ()):
            if by_address.get(addr) == owner:
                del by_address[addr]
        try:
            doc = fsutil.read_json(self.layout.account_file(domain, username), version=1)
        except FileNotFoundError:
            return
        _, _, addresses = _account_addresses(doc)
        mine = (f"{username}@{domain}", *addresses)
        owned[owner] = mine
        for addr in mine:
            by_address.setdefault(addr, owner)

    @property
    def _accounts_lock(self) -> Path:
        """Serialises claims of addresses across users (create, address changes) and the
        generation counter. Order: accounts.lock before any domain or account lock."""
        return self.layout.root / "accounts.lock"

    def generation(self) -> tuple[int, int] | None:
        """Changes whenever any account, domain or alias changes (in any process): callers
        that cache answers derived from accounts compare it. One `stat`, or none inside
        `pinned` on this thread."""
        key = getattr(self._pin, "key", _UNPINNED)
        if key is not _UNPINNED:
            return key  # type: ignore[return-value]
        return self._read_generation()

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Within the block, this thread reads the generation once and answers every lookup
        from the account cache as of that moment. A delivery batch resolves, classifies and
        loads accounts under one pin (it used to `stat` the generation three or four times
        per message); a change made meanwhile takes effect from the next batch, a few
        milliseconds later, the same bound the batch had anyway (it decided before it
        committed). Nested pins keep the outer one."""
        local = self._pin
        if getattr(local, "key", _UNPINNED) is not _UNPINNED:
            yield
            return
        local.key = self._read_generation()
        try:
            yield
        finally:
            del local.key

    def _read_generation(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._gen_path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def _cache(self, *, memory_only: bool = False
               ) -> tuple[dict[str, tuple[str, str]], dict[str, DomainRecord]]:
        """Addresses and domains, rescanned when the generation moved. With `memory_only`,
        StaleCache instead of a rescan (which reads every account: not for an event loop)."""
        key = self.generation()
        with self._lock:
            if key is None or key != self._gen_key:
                if memory_only:
                    raise StaleCache("the account cache needs a rescan")
                if not self._catch_up():
                    log_at, counter = self._log_end(), self._counter()  # before the scan
                    self._by_address, self._domains, self._owned = self._scan_all()
                    self._gen_n, self._log_at = counter, log_at
                self._gen_key = key
            return self._by_address, self._domains

    def _scan(self) -> tuple[dict[str, tuple[str, str]], dict[str, DomainRecord]]:
        by_address, domains, _ = self._scan_all()
        return by_address, domains

    def _scan_all(self) -> tuple[dict[str, tuple[str, str]], dict[str, DomainRecord],
                                 dict[tuple[str, str], tuple[str, ...]]]:
        """Every address and domain, and each user's addresses. Files unchanged since the last
        scan (same inode, mtime and size: every write replaces a file by rename) are not read
        again, so a rescan costs a `stat` per account, not a parse. (Most changes do not even
        need a rescan: see `_catch_up`.)"""
        by_address: dict[str, tuple[str, str]] = {}
        domains: dict[str, DomainRecord] = {}
        owned: dict[tuple[str, str], tuple[str, ...]] = {}
        root = self.layout.domains_dir
        if not root.is_dir():
            return by_address, domains, owned
        seen: dict[str, tuple[tuple[int, int, int], Any]] = {}
        old = self._scan_cache
        # A file written in the last two seconds is read again whatever its key: a freed
        # inode can come back with the same size and a coarse mtime.
        settled = time.time_ns() - 2_000_000_000
        for ddir in sorted(os.scandir(root), key=lambda e: e.name):
            rec = self._scan_read(f"{ddir.path}/domain.json", DomainRecord.from_doc, old, seen,
                                  settled)
            if rec is None:
                continue
            domains[ddir.name] = rec
            try:
                users = sorted(os.scandir(f"{ddir.path}/users"), key=lambda e: e.name)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for udir in users:
                acc = self._scan_read(f"{udir.path}/account.json", _account_addresses, old,
                                      seen, settled)
                if acc is None:
                    continue
                domain, username, addresses = acc
                owner = (domain, username)
                owned[owner] = (f"{username}@{domain}", *addresses)
                for addr in owned[owner]:
                    by_address.setdefault(addr, owner)
        self._scan_cache = seen
        return by_address, domains, owned

    @staticmethod
    def _scan_read(path: str, parse: Any, old: dict[str, tuple[tuple[int, int, int], Any]],
                   seen: dict[str, tuple[tuple[int, int, int], Any]], settled: int) -> Any:
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = old.get(path)
        if cached is not None and cached[0] == key and st.st_mtime_ns < settled:
            value = cached[1]
        else:
            try:
                value = parse(fsutil.read_json(path, version=1))
            except FileNotFoundError:
                return None
        seen[path] = (key, value)
        return value
