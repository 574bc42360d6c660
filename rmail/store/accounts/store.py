"""`Accounts`: domains, users, addresses and aliases under one mail root, and where mail for
an address goes (`resolve`). Reads come from `AccountCache`'s maps; every write takes its
locks, replaces its JSON document and announces itself through `_bump`."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rmail.store import fsutil
from rmail.store.accounts.cache import AccountCache
from rmail.store.accounts.names import (
    check_quota,
    check_username,
    normalize_address,
    normalize_domain,
    split_address,
)
from rmail.store.accounts.patterns import check_alias_pattern
from rmail.store.accounts.records import (
    Account,
    AliasRule,
    DomainRecord,
    Resolution,
    check_changes,
)
from rmail.store.errors import AlreadyExists, Conflict, InvalidValue, NotFound, UnsafeName

MAX_ALIAS_DEPTH = 10
SUBADDRESS_DELIMITER = "+"


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


class Accounts(AccountCache):
    """Domains, users and aliases under one mail root."""

    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        super().__init__(mail_root)
        # (domain, username) -> (stat key of account.json, parsed account): see get_current
        self._current: dict[tuple[str, str], tuple[tuple[int, int, int], Account]] = {}

    # -- domains ----------------------------------------------------------------------------
    def domains(self) -> list[str]:
        return sorted(self._cache()[1])

    def has_domain(self, domain: str) -> bool:
        try:
            return normalize_domain(domain) in self._cache()[1]
        except InvalidValue:
            return False

    def domain(self, domain: str) -> DomainRecord:
        name = normalize_domain(domain)
        rec = self._cache()[1].get(name)
        if rec is None:
            raise NotFound(f"no domain {name}")
        return rec

    def add_domain(self, domain: str, *, exist_ok: bool = False) -> str:
        name = normalize_domain(domain)
        ddir = self.layout.domain_dir(name)
        fsutil.ensure_dir(self.layout.users_dir(name))
        with fsutil.locked(self.layout.domain_lock(name)):
            if self.layout.domain_file(name).exists():
                if exist_ok:
                    return name
                raise AlreadyExists(f"domain {name} exists")
            rec = DomainRecord(name, _now_iso())
            fsutil.write_json(self.layout.domain_file(name), rec.to_doc())
            fsutil.fsync_dir(ddir.parent)
        self._bump((name, ""))
        return name

    def delete_domain(self, domain: str, *, force: bool = False) -> None:
        """Delete a domain; refuses while it has users unless `force` (which deletes them)."""
        name = normalize_domain(domain)
        if name not in self._cache()[1]:
            raise NotFound(f"no domain {name}")
        users = self.users(name)
        if users and not force:
            raise Conflict(f"domain {name} still has {len(users)} user(s)")
        self._remove_dir(self.layout.domain_dir(name))
        self._bump((name, ""))

    def set_domain_setting(self, domain: str, key: str, value: Any) -> DomainRecord:
        """Set one entry of a domain's `settings` (e.g. `dkim_selector`); None removes it."""
        if not isinstance(key, str) or not key:
            raise InvalidValue("a domain setting needs a name")

        def change(rec: DomainRecord) -> None:
            if value is None:
                rec.settings.pop(key, None)
            else:
                rec.settings[key] = value

        return self._update_domain(domain, change)

    def _update_domain(self, domain: str, change: Any) -> DomainRecord:
        name = normalize_domain(domain)
        path = self.layout.domain_file(name)
        if not path.exists():
            raise NotFound(f"no domain {name}")
        with fsutil.locked(self.layout.domain_lock(name)):
            if not path.exists():
                raise NotFound(f"no domain {name}")
            rec = DomainRecord.from_doc(fsutil.read_json(path, version=1))
            change(rec)
            fsutil.write_json(path, rec.to_doc())
        self._bump((name, ""))
        return rec

    # -- users ------------------------------------------------------------------------------
    def users(self, domain: str) -> list[Account]:
        name = normalize_domain(domain)
        udir = self.layout.users_dir(name)
        if name not in self._cache()[1]:
            raise NotFound(f"no domain {name}")
        out = []
        for d in sorted(udir.iterdir()) if udir.is_dir() else []:
            path = d / "account.json"
            if path.is_file():
                out.append(Account.from_doc(fsutil.read_json(path, version=1)))
        return out

    def get(self, domain: str, username: str) -> Account:
        name, user = normalize_domain(domain), check_username(username)
        try:
            doc = fsutil.read_json(self.layout.account_file(name, user), version=1)
        except FileNotFoundError:
            raise NotFound(f"no user {user}@{name}") from None
        return Account.from_doc(doc)

    def get_current(self, domain: str, username: str) -> Account:
        """`get` for hot paths (a JSON API request checks its token's account every time):
        the parsed account is kept and reused while `account.json` is the same file (every
        write replaces it by rename, so a new inode means a new version). One `stat`."""
        name, user = normalize_domain(domain), check_username(username)
        path = self.layout.account_file_str(name, user)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._current.pop((name, user), None)
            raise NotFound(f"no user {user}@{name}") from None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._current.get((name, user))
        if cached is not None and cached[0] == key:
            return cached[1]
        account = self.get(name, user)
        if len(self._current) > 100_000:
            self._current.clear()
        self._current[(name, user)] = (key, account)
        return account

    def create(self, domain: str, username: str, password_hash: str, *, admin: bool = False,
               quota_mb: int = 1024, display_name: str = "",
               addresses: Iterable[str] = (), origin: str = "",
               provisioned_hash: str = "") -> Account:
        """Create a user with the default folders. The domain is created when missing."""
        name, user = normalize_domain(domain), check_username(username)
        check_quota(quota_mb)
        self.add_domain(name, exist_ok=True)
        main = f"{user}@{name}"
        udir = self.layout.user_dir(name, user)
        with fsutil.locked(self._accounts_lock), fsutil.locked(self.layout.domain_lock(name)):
            all_addresses = self._checked_addresses(name, user, addresses)
            if self.layout.account_file(name, user).exists():
                raise AlreadyExists(f"user {main} exists")
            fsutil.ensure_dir(udir)
            acc = Account(user, name, password_hash, admin=admin, quota_mb=quota_mb,
                          created=_now_iso(), display_name=display_name,
                          addresses=all_addresses, origin=origin,
                          provisioned_hash=provisioned_hash)
            from rmail.store.mailbox import MailStore  # the user's folders come with the user

            MailStore(self.layout.root).mailbox(name, user).init_defaults()
            fsutil.write_json(self.layout.account_file(name, user), acc.to_doc())
            fsutil.fsync_dir(udir.parent)
        self._bump((name, user))
        return acc

    def update(self, domain: str, username: str, **changes: Any) -> Account:
        """Change account fields; unknown fields and wrong types are refused."""
        check_changes(changes)
        return self.modify(domain, username, lambda acc: changes,
                           addresses="addresses" in changes)

    def modify(self, domain: str, username: str, change: Callable[[Account], dict[str, Any]],
               *, addresses: bool = False) -> Account:
        """Read-modify-write under the account's lock: `change(current)` returns the fields
        to change (checked as `update` checks them), so concurrent changes of one list
        (application passwords, addresses) never lose each other. `addresses`: the change
        may touch `addresses` (the accounts lock is taken first, as address claims need)."""
        name, user = normalize_domain(domain), check_username(username)
        if not self.layout.account_file(name, user).exists():
            raise NotFound(f"no user {user}@{name}")  # before the lock: its sidecar needs the dir
        claims = fsutil.locked(self._accounts_lock) if addresses else contextlib.nullcontext()
        with claims, fsutil.locked(self.layout.account_lock(name, user)):
            acc = self.get(name, user)
            changes = check_changes(dict(change(acc)))
            if "addresses" in changes:
                if not addresses:
                    raise InvalidValue("addresses change without the accounts lock")
                changes["addresses"] = self._checked_addresses(name, user, changes["addresses"])
            if "password_hash" in changes and "auth_epoch" not in changes:
                changes["auth_epoch"] = acc.auth_epoch + 1  # old tokens stop working
            acc = replace(acc, **changes)
            fsutil.write_json(self.layout.account_file(name, user), acc.to_doc())
        self._bump((name, user))
        return acc

    def _checked_addresses(self, domain: str, user: str, addresses: Iterable[str]
                           ) -> tuple[str, ...]:
        """Validate a user's address list against every other user's, from a fresh scan:
        callers hold the accounts lock, so no other claim can slip in between. The order is
        kept (the first is the main address, the default sender); the login address
        `user@domain` is always there, first unless the list places it elsewhere."""
        main = f"{user}@{domain}"
        given = [normalize_address(a) for a in addresses]
        out = tuple(dict.fromkeys(given if main in given else [main, *given]))
        by_address, domains = self._scan()
        for addr in out:
            if addr.rpartition("@")[2] not in domains:
                raise InvalidValue(f"{addr}: its domain is not a local domain")
            if addr in by_address and by_address[addr] != (domain, user):
                raise AlreadyExists(f"address {addr} belongs to another user")
        return out

    def delete(self, domain: str, username: str) -> None:
        """Delete a user and everything they own (mail, calendars, drive)."""
        name, user = normalize_domain(domain), check_username(username)
        udir = self.layout.user_dir(name, user)
        if not self.layout.account_file(name, user).exists():
            raise NotFound(f"no user {user}@{name}")
        self._remove_dir(udir)
        self._bump((name, user))

    def _remove_dir(self, path: Path) -> None:
        """Rename away first so the user/domain disappears at once, then delete the files."""
        trash = path.with_name(f".deleted-{path.name}-{os.getpid()}-{threading.get_ident()}")
        os.rename(path, trash)
        fsutil.fsync_dir(path.parent)
        fsutil.remove_tree(trash)

    # -- aliases ------------------------------------------------------------------------------
    def alias_rules(self, domain: str) -> list[AliasRule]:
        return list(self.domain(domain).rules)

    def add_alias_rule(self, domain: str, pattern: str, target: str) -> AliasRule:
        rule = AliasRule(check_alias_pattern(pattern), self._check_target(domain, target))

        def change(rec: DomainRecord) -> None:
            if any(r.pattern == rule.pattern for r in rec.rules):
                raise AlreadyExists(f"alias rule {pattern!r} exists")
            rec.rules.append(rule)

        self._update_domain(domain, change)
        return rule

    def delete_alias_rule(self, domain: str, pattern: str) -> None:
        def change(rec: DomainRecord) -> None:
            before = len(rec.rules)
            rec.rules = [r for r in rec.rules if r.pattern != pattern]
            if len(rec.rules) == before:
                raise NotFound(f"no alias rule {pattern!r}")

        self._update_domain(domain, change)

    def plain_aliases(self, domain: str) -> dict[str, list[str]]:
        return dict(self.domain(domain).aliases)

    def set_alias(self, domain: str, name: str, targets: Iterable[str] | str, *,
                  origin: str | None = None, create_only: bool = False,
                  update_only: bool = False) -> list[str]:
        """A plain alias `name@domain` delivering to one or more targets (comma-separated in a
        string, as in provisioning files). `origin` records who made it (Account.origin);
        `create_only` refuses an existing alias, `update_only` a missing one."""
        dname = normalize_domain(domain)
        local, _ = split_address(f"{name}@{dname}")
        if isinstance(targets, str):
            targets = [t for t in (p.strip() for p in targets.split(",")) if t]
        checked = [self._check_target(dname, t) for t in targets]
        if not checked:
            raise InvalidValue("an alias needs at least one target")
        if f"{local}@{dname}" in self._cache()[0]:
            raise AlreadyExists(f"{local}@{dname} is a user's address")

        def change(rec: DomainRecord) -> None:
            if create_only and local in rec.aliases:
                raise AlreadyExists(f"alias {local}@{dname} exists")
            if update_only and local not in rec.aliases:
                raise NotFound(f"no alias {local}@{dname}")
            if local not in rec.aliases:
                rec.alias_origins.pop(local, None)
            rec.aliases[local] = checked
            if origin is not None:
                rec.alias_origins[local] = origin

        self._update_domain(dname, change)
        return checked

    def delete_alias(self, domain: str, name: str) -> None:
        dname = normalize_domain(domain)
        local, _ = split_address(f"{name}@{dname}")

        def change(rec: DomainRecord) -> None:
            if rec.aliases.pop(local, None) is None:
                raise NotFound(f"no alias {local}@{dname}")
            rec.alias_origins.pop(local, None)

        self._update_domain(dname, change)

    def _check_target(self, domain: str, target: object) -> str:
        """Targets are a full address, or a bare username meaning `username@domain`."""
        if not isinstance(target, str) or not target.strip():
            raise InvalidValue("alias target is empty")
        target = target.strip()
        if "@" in target:
            return normalize_address(target)
        return f"{check_username(target)}@{normalize_domain(domain)}"

    # -- resolution -------------------------------------------------------------------------
    def is_local_domain(self, domain: str) -> bool:
        return self.has_domain(domain)

    def address_owners(self) -> dict[str, tuple[str, str]]:
        """Every user address -> (domain, username): a copy of the address map."""
        return dict(self._cache()[0])

    def find_address(self, address: str, *, memory_only: bool = False
                     ) -> tuple[str, str] | None:
        """The (domain, username) owning an address, or None. `memory_only`: see `_cache`."""
        try:
            addr = normalize_address(address)
        except (InvalidValue, UnsafeName):
            return None
        return self._cache(memory_only=memory_only)[0].get(addr)

    def resolve(self, address: str) -> Resolution:
        """Map a recipient to local users and external forwards through addresses, plain
        aliases, regex rules and `+` sub-addresses, with loop protection. Raises NotFound for
        an address of a local domain that leads nowhere, InvalidValue for a non-local one."""
        users: dict[tuple[str, str], None] = {}
        external: dict[str, None] = {}
        self._resolve_into(normalize_address(address), users, external, set(), 0)
        if not users and not external:
            raise NotFound(f"no mailbox for {address}")
        return Resolution(tuple(users), tuple(external))

    def _resolve_into(self, addr: str, users: dict[tuple[str, str], None],
                      external: dict[str, None], seen: set[str], depth: int) -> None:
        if addr in seen:
            return  # a loop: each address contributes once
        if depth > MAX_ALIAS_DEPTH:
            raise Conflict(f"alias chain for {addr} is deeper than {MAX_ALIAS_DEPTH}")
        seen.add(addr)
        by_address, domains = self._cache()
        local, _, domain = addr.rpartition("@")
        if domain not in domains:
            if depth == 0:
                raise InvalidValue(f"{domain} is not a local domain")
            external[addr] = None
            return
        owner = by_address.get(addr)
        if owner is not None:
            users[owner] = None
            return
        rec = domains[domain]
        targets = rec.aliases.get(local)
        if targets is None:
            for rule in rec.rules:
                try:
                    if re.fullmatch(rule.pattern, local):
                        targets = [rule.target]
                        break
                except re.error:
                    continue
        if targets is None and SUBADDRESS_DELIMITER in local:
            base = local.split(SUBADDRESS_DELIMITER, 1)[0]
            if base:
                targets = [f"{base}@{domain}"]
        for target in targets or ():
            self._resolve_into(target, users, external, seen, depth + 1)
