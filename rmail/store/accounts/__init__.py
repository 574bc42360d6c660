"""Domains, users, addresses and aliases: who exists and where mail for an address goes.

Account records are small JSON documents (`account.json`, `domain.json`) read freely and written
under their `.lock` sidecars. Lookups by address use an in-memory map that every process keeps
current through `accounts.gen` and `accounts.changes` (see `cache`), so the CLI can add a user
while the server runs and the server sees it on the next lookup.

The package, one job per module (callers import from the package, which names them all):
- `names`     the gate for names from the outside: usernames, domains, addresses, passwords
- `records`   `Account`, `DomainRecord`, `AliasRule`, `Resolution`: the records and their JSON
- `patterns`  `check_alias_pattern`: regex alias rules that cannot backtrack for long
- `cache`     `AccountCache`: the address map and domain records in memory, the generation
              (`accounts.gen`), the change log (`accounts.changes`) and the scan
- `store`     `Accounts`: domains, users, addresses and aliases, and `resolve`
"""

from rmail.store.accounts.cache import CHANGES_MAX_BYTES, AccountCache
from rmail.store.accounts.names import (
    PASSWORD_MAX_BYTES,
    QUOTA_MAX_MB,
    QUOTA_MIN_MB,
    check_password,
    check_quota,
    check_username,
    normalize_address,
    normalize_domain,
    split_address,
)
from rmail.store.accounts.patterns import (
    MAX_PATTERN_LENGTH,
    MAX_UNBOUNDED_REPEATS,
    check_alias_pattern,
)
from rmail.store.accounts.records import (
    ACCOUNT_VERSION,
    DOMAIN_VERSION,
    Account,
    AliasRule,
    DomainRecord,
    Resolution,
)
from rmail.store.accounts.store import MAX_ALIAS_DEPTH, SUBADDRESS_DELIMITER, Accounts

__all__ = [
    "ACCOUNT_VERSION",
    "CHANGES_MAX_BYTES",
    "DOMAIN_VERSION",
    "MAX_ALIAS_DEPTH",
    "MAX_PATTERN_LENGTH",
    "MAX_UNBOUNDED_REPEATS",
    "PASSWORD_MAX_BYTES",
    "QUOTA_MAX_MB",
    "QUOTA_MIN_MB",
    "SUBADDRESS_DELIMITER",
    "Account",
    "AccountCache",
    "Accounts",
    "AliasRule",
    "DomainRecord",
    "Resolution",
    "check_alias_pattern",
    "check_password",
    "check_quota",
    "check_username",
    "normalize_address",
    "normalize_domain",
    "split_address",
]
