"""Domains, users, addresses and aliases: who exists and where mail for an address goes.

Account records are small JSON documents (`account.json`, `domain.json`) read freely and written
under their `.lock` sidecars. Lookups by address use an in-memory map built by scanning the
account files, brought up to date when `accounts.gen` changes (every account or alias write
bumps it), so the CLI can add a user while the server runs and the server sees it on the next
lookup. Each bump first appends what changed to `accounts.changes` (`COUNTER DOMAIN USER`
lines, a hint rather than a record): a reader re-reads just those files instead of every
account, and rescans everything when the log has a gap, was started afresh or says `*`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import re._constants as _re_constants  # the parsed form of a pattern, to vet alias rules
import re._parser as _re_parser
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from rmail.mail.domains import to_ascii_domain
from rmail.store import fsutil
from rmail.store.errors import (
    AlreadyExists,
    Conflict,
    InvalidValue,
    NotFound,
    StaleCache,
    UnsafeName,
)
from rmail.store.layout import Layout

ACCOUNT_VERSION = 1
DOMAIN_VERSION = 1
QUOTA_MIN_MB, QUOTA_MAX_MB = 1, 1_048_576
PASSWORD_MAX_BYTES = 1024
CHANGES_MAX_BYTES = 1024 * 1024  # accounts.changes starts afresh beyond this
MAX_ALIAS_DEPTH = 10
MAX_PATTERN_LENGTH = 256
SUBADDRESS_DELIMITER = "+"

_USERNAME_RE = re.compile(r"[a-z0-9._-]{1,64}")
_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_LOCAL_ATOM_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")


# -- validation (the gate for names from the outside) -------------------------------------------
def check_username(name: object) -> str:
    """Lowercase `a-z0-9._-`, 1-64 characters, not `.`/`..`, no leading dot (the name is a
    directory name), and no trailing or double dot (it is also the local part of the user's
    address, which `split_address` would refuse: RFC 5322 dot-atom)."""
    if not isinstance(name, str) or not _USERNAME_RE.fullmatch(name):
        raise InvalidValue("username must be 1-64 characters of lowercase a-z, 0-9, '.', '_', '-'")
    if name.startswith(".") or name.endswith(".") or ".." in name:
        raise InvalidValue("username must not start or end with '.' or contain '..'")
    return name


def normalize_domain(domain: object) -> str:
    """Lowercase IDNA (punycode) form of a domain name, validated label by label."""
    if not isinstance(domain, str) or not domain.strip():
        raise InvalidValue("domain is empty")
    name = domain.strip().rstrip(".").lower()
    try:
        ascii_name = name if name.isascii() else to_ascii_domain(name)
    except UnicodeError as exc:
        raise InvalidValue(f"domain {domain!r} is not a valid internationalised name") from exc
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise InvalidValue(f"domain {domain!r} is not a valid domain name")
    return ascii_name


def check_password(password: object) -> str:
    if not isinstance(password, str):
        raise InvalidValue("password must be a string")
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate (e.g. "\ud800" in JSON) can't be hashed
        raise InvalidValue("password is not valid Unicode") from None
    if not 1 <= size <= PASSWORD_MAX_BYTES:
        raise InvalidValue(f"password must be 1-{PASSWORD_MAX_BYTES} bytes")
    return password


def check_quota(quota_mb: object) -> int:
    if isinstance(quota_mb, bool) or not isinstance(quota_mb, int) or \
            not QUOTA_MIN_MB <= quota_mb <= QUOTA_MAX_MB:
        raise InvalidValue(f"quota_mb must be an integer {QUOTA_MIN_MB}-{QUOTA_MAX_MB}")
    return quota_mb


def split_address(address: object) -> tuple[str, str]:
    """`Local@Domain` -> (local, domain) with the domain normalised and an ASCII local part
    lowercased. UTF-8 local parts (RFC 6531) are allowed and NFC-normalised."""
    import unicodedata

    if not isinstance(address, str) or address.count("@") < 1:
        raise InvalidValue(f"{address!r} is not an e-mail address")
    local, _, domain = address.strip().rpartition("@")
    if local.startswith('"') and local.endswith('"') and len(local) >= 2:
        local = local[1:-1]
    if not local or len(local.encode()) > 64:
        raise InvalidValue(f"{address!r} has an empty or over-long local part")
    for ch in local:
        if ord(ch) < 0x21 or ord(ch) == 0x7F or ch in '"(),:;<>@[\\]':
            raise InvalidValue(f"{address!r} has a character not allowed in a local part")
    if local.isascii():
        if not _LOCAL_ATOM_RE.fullmatch(local) or local.startswith(".") or \
                local.endswith(".") or ".." in local:
            raise InvalidValue(f"{address!r} is not a valid local part")
        local = local.lower()
    else:
        local = unicodedata.normalize("NFC", local).lower()
    return local, normalize_domain(domain)


def normalize_address(address: object) -> str:
    local, domain = split_address(address)
    return f"{local}@{domain}"


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


# -- records ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Account:
    """One user. `addresses[0]` is the main address; the others are extra addresses that
    deliver to this user and may be used as sender."""

    username: str
    domain: str
    password_hash: str
    admin: bool = False
    enabled: bool = True
    quota_mb: int = 1024
    created: str = ""
    display_name: str = ""
    addresses: tuple[str, ...] = ()
    submission_enabled: bool = True
    pop3_enabled: bool = True
    sender_whitelist: tuple[str, ...] = ()   # addresses, "@domain" / "domain", or "*"
    # Domains this (non-global) admin manages: their users and aliases, nothing else.
    admin_domains: tuple[str, ...] = ()
    recipients_per_day: int = 2000
    auth_epoch: int = 0                      # bumped on password change: old tokens die
    app_passwords: tuple[dict[str, Any], ...] = ()
    totp: dict[str, Any] | None = None
    # Provisioning (rmail.provisioning): who created the account ("file" = the declarative
    # document, "rest" = the controller's REST API, "" = by hand or another API; `--prune`
    # removes only "file" accounts), and the hash the document last gave it, compared instead
    # of `password_hash` because a login upgrades an imported crypt hash to argon2id.
    origin: str = ""
    provisioned_hash: str = ""

    @property
    def address(self) -> str:
        return self.addresses[0] if self.addresses else f"{self.username}@{self.domain}"

    @property
    def quota_bytes(self) -> int:
        return self.quota_mb * 1024 * 1024

    def public(self) -> dict[str, Any]:
        """What the admin API shows (never the hash or secrets)."""
        return {"username": self.username, "domain": self.domain, "enabled": self.enabled,
                "admin": self.admin, "quota_mb": self.quota_mb, "created": self.created,
                "display_name": self.display_name, "addresses": list(self.addresses),
                "submission_enabled": self.submission_enabled,
                "pop3_enabled": self.pop3_enabled,
                "sender_whitelist": list(self.sender_whitelist),
                "recipients_per_day": self.recipients_per_day,
                "admin_domains": list(self.admin_domains)}

    def manages(self, domain: str) -> bool:
        """Whether this account administers `domain` (`domain` normalised): a global admin
        manages every domain, a domain admin those in `admin_domains`."""
        return self.enabled and (self.admin or domain in self.admin_domains)

    def may_send_as(self, address: str) -> bool:
        """Own addresses, or the sender whitelist: exact addresses, whole domains, or `*`."""
        try:
            addr = normalize_address(address)
        except InvalidValue:
            return False
        if addr in self.addresses or addr == f"{self.username}@{self.domain}":
            return True
        domain = addr.rpartition("@")[2]
        for entry in self.sender_whitelist:
            entry = entry.strip().lower()
            if entry == "*" or entry == addr or entry.lstrip("@") == domain:
                return True
        return False

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["version"] = ACCOUNT_VERSION
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Account:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in doc.items() if k in known}
        for key in ("addresses", "sender_whitelist", "app_passwords", "admin_domains"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


_UPDATABLE = {"admin": bool, "enabled": bool, "quota_mb": int, "display_name": str,
              "submission_enabled": bool, "pop3_enabled": bool, "recipients_per_day": int,
              "password_hash": str,
              "sender_whitelist": tuple, "app_passwords": tuple, "totp": object,
              "addresses": tuple, "auth_epoch": int, "provisioned_hash": str,
              "admin_domains": tuple}


def _checked_sequence(key: str, value: object) -> tuple[Any, ...]:
    """A list field: a list or tuple (a bare string would become a tuple of characters) of
    strings, or of objects for `app_passwords`."""
    if not isinstance(value, list | tuple):
        raise InvalidValue(f"{key} must be a list")
    item = dict if key == "app_passwords" else str
    if not all(isinstance(v, item) for v in value):
        raise InvalidValue(f"every entry of {key} must be a {item.__name__}")
    return tuple(value)


def _check_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Known account fields with values of the right type (normalised in place)."""
    for key, value in changes.items():
        kind = _UPDATABLE.get(key)
        if kind is None:
            raise InvalidValue(f"field {key!r} cannot be changed")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidValue(f"{key} must be an integer")
        if kind in (bool, str) and not isinstance(value, kind):
            raise InvalidValue(f"{key} must be a {kind.__name__}")
        if kind is int and value < 0:
            raise InvalidValue(f"{key} must not be negative")
        if kind is tuple:
            changes[key] = _checked_sequence(key, value)
    if "quota_mb" in changes:
        check_quota(changes["quota_mb"])
    if "admin_domains" in changes:
        changes["admin_domains"] = tuple(dict.fromkeys(
            normalize_domain(d) for d in changes["admin_domains"]))
    return changes


@dataclass(frozen=True)
class AliasRule:
    """A regex alias: local parts matching `pattern` (whole match) go to `target`."""

    pattern: str
    target: str


@dataclass
class DomainRecord:
    name: str
    created: str = ""
    rules: list[AliasRule] = field(default_factory=list)
    aliases: dict[str, list[str]] = field(default_factory=dict)  # local part -> targets
    settings: dict[str, Any] = field(default_factory=dict)       # e.g. DKIM selector
    # local part -> who made the plain alias ("file" or "rest", see Account.origin); absent
    # for aliases made by hand or over the admin API
    alias_origins: dict[str, str] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        doc = {"version": DOMAIN_VERSION, "name": self.name, "created": self.created,
               "rules": [asdict(r) for r in self.rules], "aliases": self.aliases,
               "settings": self.settings}
        origins = {k: v for k, v in self.alias_origins.items() if k in self.aliases}
        if origins:
            doc["alias_origins"] = origins
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> DomainRecord:
        return cls(doc["name"], doc.get("created", ""),
                   [AliasRule(r["pattern"], r["target"]) for r in doc.get("rules", [])],
                   {k: list(v) for k, v in doc.get("aliases", {}).items()},
                   dict(doc.get("settings", {})), dict(doc.get("alias_origins", {})))


@dataclass(frozen=True)
class Resolution:
    """Where mail for one address goes: local mailboxes and external forwards."""

    users: tuple[tuple[str, str], ...]   # (domain, username)
    external: tuple[str, ...]


MAX_UNBOUNDED_REPEATS = 3


def check_alias_pattern(pattern: object) -> str:
    """A regex rule is matched against local parts that anyone on the internet chooses, so
    patterns that can backtrack for long are refused: no unbounded repeat inside another
    repeat or around an alternation (`(a+)+`, `(a|a)*`), and at most three unbounded
    repeats in all (local parts are at most 64 characters, which bounds the rest)."""
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidValue(f"alias pattern must be 1-{MAX_PATTERN_LENGTH} characters")
    try:
        re.compile(pattern)
        parsed = _re_parser.parse(pattern)
    except (re.error, RecursionError) as exc:
        raise InvalidValue(f"alias pattern is not a valid regular expression: {exc}") from exc
    unbounded = _count_unbounded(parsed, inside_repeat=False)
    if unbounded > MAX_UNBOUNDED_REPEATS:
        raise InvalidValue(f"alias pattern has more than {MAX_UNBOUNDED_REPEATS} unbounded "
                           "repeats (*, +, {n,}); simplify it")
    return pattern


def _count_unbounded(parsed: Any, *, inside_repeat: bool) -> int:
    """Count unbounded repeats; raise for the shapes that backtrack exponentially."""
    count = 0
    for op, arg in parsed:
        if op in (_re_constants.MAX_REPEAT, _re_constants.MIN_REPEAT,
                  getattr(_re_constants, "POSSESSIVE_REPEAT", None)):
            _low, high, body = arg
            unbounded = high == _re_constants.MAXREPEAT or high > 64
            if unbounded and inside_repeat:
                raise InvalidValue("alias pattern nests a repeat inside a repeat (like (a+)+), "
                                   "which can take exponential time")
            count += unbounded + _count_unbounded(body, inside_repeat=inside_repeat or unbounded)
        elif op is _re_constants.BRANCH:
            if inside_repeat:
                raise InvalidValue("alias pattern repeats an alternation (like (a|b)+), which "
                                   "can take exponential time")
            count += sum(_count_unbounded(branch, inside_repeat=False) for branch in arg[1])
        elif op is _re_constants.SUBPATTERN:
            count += _count_unbounded(arg[-1], inside_repeat=inside_repeat)
        elif op in (_re_constants.ASSERT, _re_constants.ASSERT_NOT):
            count += _count_unbounded(arg[1], inside_repeat=inside_repeat)
        elif op is _re_constants.GROUPREF_EXISTS:
            for branch in arg[1:]:
                if branch is not None:
                    count += _count_unbounded(branch, inside_repeat=inside_repeat)
    return count


def _account_addresses(doc: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """What the address map needs of an account.json."""
    return doc["domain"], doc["username"], tuple(doc.get("addresses", ()))


# -- the store ------------------------------------------------------------------------------------
_UNPINNED = object()  # `Accounts.pinned` is not active on this thread


class Accounts:
    """Domains, users and aliases under one mail root."""

    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        self.layout = Layout(mail_root)
        self._gen_path = str(self.layout.accounts_gen)  # stat on every authenticated request
        self._lock = threading.Lock()
        self._pin = threading.local()  # `pinned`: this thread's generation, read once
        self._gen_key: tuple[int, int] | None = None
        self._by_address: dict[str, tuple[str, str]] = {}
        self._domains: dict[str, DomainRecord] = {}
        # (domain, username) -> (stat key of account.json, parsed account): see get_current
        self._current: dict[tuple[str, str], tuple[tuple[int, int, int], Account]] = {}
        # path -> (stat key, parsed) of the files the last scan read: see _scan
        self._owned: dict[tuple[str, str], tuple[str, ...]] = {}  # user -> its addresses
        self._gen_n: int | None = None                 # the counter the maps reflect
        self._log_at: tuple[int, int] | None = None    # (inode, offset) read up to
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
        _check_changes(changes)
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
            changes = _check_changes(dict(change(acc)))
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
