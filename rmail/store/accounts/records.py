"""The account and domain records (`account.json`, `domain.json`) as typed values, their JSON
form (each document carries `"version"`), and the check of an account change's fields."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from rmail.store.accounts.names import check_quota, normalize_address, normalize_domain
from rmail.store.errors import InvalidValue

ACCOUNT_VERSION = 1
DOMAIN_VERSION = 1


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


def check_changes(changes: dict[str, Any]) -> dict[str, Any]:
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
