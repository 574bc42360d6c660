"""The store side of provisioning: what exists, bulk creation, grace-period deletion.

The mail controller's interfaces (`rmail.provisioning`, the `/mail/...` REST routes) change
accounts through `rmail.store.accounts` like everything else; this module adds what they need
on top and nothing else knows about:

- `snapshot()`: every domain, account (hash, provisioned hash, origin) and plain alias in one
  pass, for the pure diff in `rmail.provisioning.plan`.
- `create_accounts()`: thousands of new users at once. Each user's directory (account.json and
  an empty `mail/`; the mail store makes the default folders at the first use) is built in
  `provisioning/staging/` without fsyncs, one `syncfs` makes the whole batch durable, and
  only then is each directory renamed into `users/` (an atomic step per user) and the `users/`
  directory fsynced. A crash leaves either no user or a complete one; leftovers in staging
  are removed by the next batch. One generation bump for the batch, not one per user.
- `set_aliases()`: any number of plain aliases of one domain in one `domain.json` write.
- `retire()` / `restore()` / `purge_expired()`: deletion with a grace period. A retired user
  directory is renamed to `domains/{domain}/deleted/{username}.{unix time}`: the account
  disappears from every lookup at once (no login, 550 for mail, 404 over the API) while its
  data stays until `purge_expired` removes it.
- `read_state()` / `write_state()`: the last applied document's hash and ETag.

Locks: the accounts lock, then the domain lock (as in `Accounts.create`); never held across
network I/O. Calls here are synchronous and belong on a worker thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmail.store import fsutil
from rmail.store.accounts import (
    Account,
    Accounts,
    DomainRecord,
    check_username,
    normalize_domain,
    split_address,
)
from rmail.store.errors import AlreadyExists, Conflict, CorruptStore, InvalidValue, NotFound
from rmail.store.layout import Layout, MailLayout

STATE_VERSION = 1
ORIGIN_FILE = "file"
ORIGIN_REST = "rest"


@dataclass(frozen=True)
class AccountState:
    domain: str
    username: str
    password_hash: str
    provisioned_hash: str
    origin: str


@dataclass(frozen=True)
class AliasState:
    domain: str
    name: str
    targets: tuple[str, ...]
    origin: str


@dataclass
class Snapshot:
    """Everything the diff needs to know about the store, read in one pass."""

    domains: set[str] = field(default_factory=set)
    accounts: dict[tuple[str, str], AccountState] = field(default_factory=dict)
    aliases: dict[tuple[str, str], AliasState] = field(default_factory=dict)
    addresses: dict[str, tuple[str, str]] = field(default_factory=dict)  # any address -> owner
    # regex alias patterns per domain: never provisioned nor pruned, but a recipient they
    # match has somewhere to go, as `Accounts.resolve` (the REST API's check) agrees
    rules: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def matches_rule(self, domain: str, local: str) -> bool:
        """Whether one of `domain`'s regex aliases takes `local` (a bad pattern takes nothing,
        as at delivery)."""
        for pattern in self.rules.get(domain, ()):
            try:
                if re.fullmatch(pattern, local):
                    return True
            except re.error:
                continue
        return False

    def is_local(self, address: str) -> bool:
        """Whether mail to `address` has somewhere to go here (a user's address or an alias)."""
        local, _, domain = address.rpartition("@")
        return address in self.addresses or (domain, local) in self.aliases


@dataclass(frozen=True)
class Retired:
    """A user deleted with a grace period."""

    domain: str
    username: str
    deleted_at: int
    path: Path

    @property
    def address(self) -> str:
        return f"{self.username}@{self.domain}"


def sync_filesystem(path: Path) -> None:
    """Flush every dirty page and inode of the filesystem holding `path` (syncfs(2)); where
    syncfs is missing, sync(2). One call makes a whole staged batch durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        libc = _libc()
        if libc is None or libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


_libc_handle: list[Any] = []


def _libc() -> Any:
    if not _libc_handle:
        name = ctypes.util.find_library("c")
        try:
            lib = ctypes.CDLL(name, use_errno=True) if name else None
        except OSError:
            lib = None
        _libc_handle.append(lib if lib is not None and hasattr(lib, "syncfs") else None)
    return _libc_handle[0]


class ProvisioningStore:
    """Provisioning's view of one mail root (shares the process's `Accounts`)."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.layout = accounts.layout
        self._batch = threading.Lock()  # one bulk creation at a time per process

    # -- reading --------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Every domain, account and plain alias (one read of each account.json)."""
        snap = Snapshot()
        root = self.layout.domains_dir
        if not root.is_dir():
            return snap
        for ddir in sorted(root.iterdir()):
            dfile = ddir / "domain.json"
            if not dfile.is_file():
                continue
            rec = DomainRecord.from_doc(fsutil.read_json(dfile, version=1))
            snap.domains.add(rec.name)
            if rec.rules:
                snap.rules[rec.name] = tuple(r.pattern for r in rec.rules)
            for local, targets in rec.aliases.items():
                snap.aliases[(rec.name, local)] = AliasState(
                    rec.name, local, tuple(targets), rec.alias_origins.get(local, ""))
            try:
                users = sorted(e.name for e in os.scandir(ddir / "users"))
            except (FileNotFoundError, NotADirectoryError):
                continue
            base = f"{ddir}/users"
            for name in users:
                try:  # the fields the diff needs, without building an Account
                    doc = fsutil.read_json(f"{base}/{name}/account.json", version=1)
                except FileNotFoundError:
                    continue
                d, u = doc["domain"], doc["username"]
                snap.accounts[(d, u)] = AccountState(
                    d, u, doc["password_hash"], doc.get("provisioned_hash", ""),
                    doc.get("origin", ""))
                snap.addresses.setdefault(f"{u}@{d}", (d, u))
                for address in doc.get("addresses", ()):
                    snap.addresses.setdefault(address, (d, u))
        return snap

    # -- accounts ---------------------------------------------------------------------------------
    def create_accounts(self, domain: str, users: Iterable[tuple[str, str]], *, origin: str,
                        quota_mb: int = 1024) -> list[str]:
        """Create users `(username, password_hash)` of one domain (created when missing), each
        with `provisioned_hash` = its hash. Returns the addresses created. A name that exists
        or is claimed meanwhile raises AlreadyExists before anything is renamed into place."""
        name = normalize_domain(domain)
        wanted = [(check_username(u), h) for u, h in users]
        if not wanted:
            return []
        self.accounts.add_domain(name, exist_ok=True)
        with self._batch:
            staging = self._fresh_staging()
            try:
                built: list[tuple[str, Path]] = []
                now = _now_iso()
                layout = Layout(staging)
                for username, password_hash in wanted:
                    # the mail directory without folders: the mail store makes the default
                    # folders at the first use (UserMailbox._load_list_locked)
                    mail = MailLayout(layout.mail_dir(name, username))
                    os.makedirs(mail.staging_dir)
                    acc = Account(username, name, password_hash, quota_mb=quota_mb,
                                  created=now, addresses=(f"{username}@{name}",),
                                  origin=origin, provisioned_hash=password_hash)
                    fsutil.write_json(layout.account_file(name, username), acc.to_doc(),
                                      durable=False)
                    built.append((username, layout.user_dir(name, username)))
                sync_filesystem(staging)  # every staged file and directory is now durable
                self._move_into_place(name, built)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return [f"{u}@{name}" for u, _ in built]

    def _move_into_place(self, domain: str, built: list[tuple[str, Path]]) -> None:
        users_dir = self.layout.users_dir(domain)
        fsutil.ensure_dir(users_dir)
        lock = self.accounts._accounts_lock
        with fsutil.locked(lock), fsutil.locked(self.layout.domain_lock(domain)):
            claimed = self.snapshot_addresses()
            rec = self.accounts.domain(domain)
            for username, _ in built:
                address = f"{username}@{domain}"
                if (users_dir / username).exists() or address in claimed:
                    raise AlreadyExists(f"user {address} exists")
                if username in rec.aliases:
                    raise AlreadyExists(f"{address} is an alias")
            try:
                for username, udir in built:
                    os.rename(udir, users_dir / username)
            finally:
                fsutil.fsync_dir(users_dir)
        self.accounts._bump(*((domain, u) for u, _ in built))  # one bump for the batch

    def snapshot_addresses(self) -> dict[str, tuple[str, str]]:
        """Every claimed address from a fresh scan (callers hold the accounts lock)."""
        return self.accounts._scan()[0]

    def _fresh_staging(self) -> Path:
        base = self.layout.provisioning_dir / "staging"
        fsutil.ensure_dir(base)
        for old in base.iterdir():  # a crashed batch's leftovers (never renamed into place)
            pid = old.name.split("-", 1)[0]
            if not pid.isdigit() or not _alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        path = base / f"{os.getpid()}-{secrets.token_hex(6)}"
        path.mkdir()
        return path

    def set_provisioned_hash(self, domain: str, username: str, password_hash: str) -> Account:
        """Record the document's hash; the password changes only if it differs from the stored
        one (then old tokens die, as with any password change)."""
        current = self.accounts.get(domain, username)
        if current.password_hash == password_hash:
            return self.accounts.update(domain, username, provisioned_hash=password_hash,
                                        auth_epoch=current.auth_epoch)
        return self.accounts.update(domain, username, password_hash=password_hash,
                                    provisioned_hash=password_hash)

    # -- aliases ----------------------------------------------------------------------------------
    def set_aliases(self, domain: str, changes: Mapping[str, tuple[str, ...] | None], *,
                    origin: str) -> None:
        """Set (targets) or remove (None) plain aliases of one domain in one write. Targets
        are normalised addresses (the caller validated them)."""
        name = normalize_domain(domain)
        if not changes:
            return
        self.accounts.add_domain(name, exist_ok=True)

        def change(rec: DomainRecord) -> None:
            for local, targets in changes.items():
                if targets is None:
                    rec.aliases.pop(local, None)
                    rec.alias_origins.pop(local, None)
                else:
                    if local not in rec.aliases:
                        rec.alias_origins[local] = origin
                    rec.aliases[local] = list(targets)

        self.accounts._update_domain(name, change)

    # -- deletion with a grace period -----------------------------------------------------------
    def retire(self, domain: str, username: str, *, grace_days: int) -> None:
        """Delete a user: at once with `grace_days` 0, else moved to `deleted/` (gone from
        every lookup, data kept until `purge_expired`)."""
        name, user = normalize_domain(domain), check_username(username)
        if grace_days <= 0:
            self.accounts.delete(name, user)
            return
        udir = self.layout.user_dir(name, user)
        lock = self.accounts._accounts_lock
        with fsutil.locked(lock), fsutil.locked(self.layout.domain_lock(name)):
            if not (udir / "account.json").is_file():
                raise NotFound(f"no user {user}@{name}")
            graveyard = self.layout.deleted_dir(name)
            fsutil.ensure_dir(graveyard)
            stamp = int(time.time())
            while (graveyard / f"{user}.{stamp}").exists():
                stamp += 1
            os.rename(udir, graveyard / f"{user}.{stamp}")
            fsutil.fsync_dir(udir.parent)
            fsutil.fsync_dir(graveyard)
        self.accounts._bump((name, user))

    def retired(self, domain: str | None = None) -> list[Retired]:
        """Users deleted with a grace period, newest first."""
        domains = [normalize_domain(domain)] if domain else self.accounts.domains()
        out = []
        for name in domains:
            graveyard = self.layout.deleted_dir(name)
            for entry in graveyard.iterdir() if graveyard.is_dir() else ():
                user, _, stamp = entry.name.rpartition(".")
                if user and stamp.isdigit() and (entry / "account.json").is_file():
                    out.append(Retired(name, user, int(stamp), entry))
        return sorted(out, key=lambda r: (-r.deleted_at, r.domain, r.username))

    def restore(self, address: str) -> Account:
        """Bring back the most recently deleted user of this address, with all their data."""
        local, domain = split_address(address)
        user = check_username(local)
        candidates = [r for r in self.retired(domain) if r.username == user]
        if not candidates:
            raise NotFound(f"no deleted user {user}@{domain} to restore")
        entry = candidates[0]
        udir = self.layout.user_dir(domain, user)
        lock = self.accounts._accounts_lock
        with fsutil.locked(lock), fsutil.locked(self.layout.domain_lock(domain)):
            if udir.exists():
                raise AlreadyExists(f"user {user}@{domain} exists again; delete it first")
            account = Account.from_doc(fsutil.read_json(entry.path / "account.json", version=1))
            claimed = self.snapshot_addresses()
            rec = self.accounts.domain(domain)
            for addr in (f"{user}@{domain}", *account.addresses):
                if addr in claimed or (addr.partition("@")[0] in rec.aliases and \
                        addr.rpartition("@")[2] == domain):
                    raise Conflict(f"{addr} is in use by another user or alias now")
            fsutil.ensure_dir(udir.parent)
            os.rename(entry.path, udir)
            fsutil.fsync_dir(udir.parent)
            fsutil.fsync_dir(entry.path.parent)
        self.accounts._bump((domain, user))
        return account

    def purge_expired(self, grace_days: int, *, now: float | None = None) -> list[str]:
        """Remove the data of users deleted more than `grace_days` ago; their addresses."""
        limit = (time.time() if now is None else now) - grace_days * 86400
        removed = []
        for entry in self.retired():
            if entry.deleted_at <= limit:
                trash = entry.path.with_name(f".purge-{entry.path.name}-{os.getpid()}")
                try:
                    os.rename(entry.path, trash)
                except FileNotFoundError:
                    continue  # purged by another process meanwhile
                fsutil.remove_tree(trash)
                removed.append(entry.address)
        return removed

    # -- the last applied document ---------------------------------------------------------
    @property
    def _state_file(self) -> Path:
        return self.layout.provisioning_dir / "state.json"

    def read_state(self) -> dict[str, Any]:
        try:
            data = fsutil.read_json(self._state_file, version=STATE_VERSION)
        except (FileNotFoundError, CorruptStore):
            return {}
        return data if isinstance(data, dict) else {}

    def write_state(self, **values: Any) -> None:
        if any(not isinstance(k, str) for k in values):
            raise InvalidValue("state keys are strings")
        fsutil.ensure_dir(self.layout.provisioning_dir)
        fsutil.write_json(self._state_file, {"version": STATE_VERSION, **values})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now_iso() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
