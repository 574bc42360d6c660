"""Application passwords: per-client passwords limited to some protocols (scopes).

A mail client that cannot do two-factor login gets its own password, shown once: 16
lowercase letters (WildDuck's form; spaces and case are ignored when it is typed). Records
live in `account.json` `app_passwords`, one object each:

    {"id": 24 hex, "description": "...", "scopes": ["imap", "smtp"], "hash": "$argon2id$...",
     "hint": 4 hex, "created": ISO 8601}

`hash` is an argon2id hash like the account password's. `hint` is 16 bits of a BLAKE2b digest
of the password: it picks the one record worth an argon2 run (a wrong guess rarely costs a
second one), and leaves 59 of the password's 75 bits of entropy behind argon2.

An application password never opens the "master" scope (`POST /auth/login`, webmail) and never
changes account security; the master password with two-factor on opens only the master scope.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rmail.auth.passwords import hash_password
from rmail.store.accounts import Account, Accounts
from rmail.store.errors import InvalidValue, NotFound
from rmail.store.security import SecurityState

# Scopes, each the set of front ends it opens.
SCOPES = ("imap", "pop3", "smtp", "caldav", "dav", "api")
ALL = "*"
MAX_PER_ACCOUNT = 50
DESCRIPTION_MAX = 200
LENGTH = 16

_FORM = re.compile(r"[a-z]{16}")


@dataclass(frozen=True)
class AppPassword:
    """One application password as stored (without the secret)."""

    id: str
    description: str
    scopes: tuple[str, ...]
    hash: str
    hint: str
    created: str

    def allows(self, scope: str) -> bool:
        return ALL in self.scopes or scope in self.scopes

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "scopes": list(self.scopes),
                "created": self.created}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AppPassword:
        return cls(str(doc.get("id", "")), str(doc.get("description", "")),
                   tuple(str(s) for s in doc.get("scopes", ())), str(doc.get("hash", "")),
                   str(doc.get("hint", "")), str(doc.get("created", "")))

    def to_doc(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "scopes": list(self.scopes),
                "hash": self.hash, "hint": self.hint, "created": self.created}


def generate() -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(LENGTH))


def normalize(password: str) -> str | None:
    """The password in canonical form when it has the shape of an application password
    (16 letters, spaces and case ignored), else None."""
    if len(password) > 40:
        return None
    compact = password.replace(" ", "").lower()
    return compact if _FORM.fullmatch(compact) else None


def hint(canonical: str) -> str:
    return hashlib.blake2b(canonical.encode(), digest_size=2).hexdigest()


def check_scopes(scopes: Iterable[object]) -> tuple[str, ...]:
    """Known scopes, deduplicated, in a stable order; `*` alone means every scope."""
    out: list[str] = []
    for scope in scopes:
        if not isinstance(scope, str) or scope not in (*SCOPES, ALL):
            raise InvalidValue(f"unknown scope {scope!r}: use {', '.join((*SCOPES, ALL))}")
        if scope not in out:
            out.append(scope)
    if not out:
        raise InvalidValue("give at least one scope")
    return (ALL,) if ALL in out else tuple(s for s in SCOPES if s in out)


def check_description(description: object) -> str:
    if not isinstance(description, str) or not description.strip() or \
            len(description) > DESCRIPTION_MAX or any(ord(c) < 0x20 for c in description):
        raise InvalidValue(f"description must be 1-{DESCRIPTION_MAX} printable characters")
    return description.strip()


def records(app_passwords: Iterable[dict[str, Any]]) -> list[AppPassword]:
    return [AppPassword.from_doc(d) for d in app_passwords if isinstance(d, dict)]


def candidates(app_passwords: Iterable[dict[str, Any]], canonical: str) -> list[AppPassword]:
    """The records whose hint matches (usually one or none)."""
    h = hint(canonical)
    return [r for r in records(app_passwords) if r.hint == h]


# -- changes (the API, the CLI and the webmail all go through these) ----------------------------
def create(accounts: Accounts, domain: str, username: str, description: object,
           scopes: Iterable[object]) -> tuple[str, AppPassword]:
    """A new application password for the account: (the password, shown once; its record).
    Blocking (an argon2 hash): call in a thread."""
    description = check_description(description)
    checked = check_scopes(scopes)
    password = generate()
    record = AppPassword(secrets.token_hex(12), description, checked, hash_password(password),
                         hint(password), dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def add(account: Account) -> dict[str, Any]:
        if len(account.app_passwords) >= MAX_PER_ACCOUNT:
            raise InvalidValue(f"at most {MAX_PER_ACCOUNT} application passwords")
        return {"app_passwords": (*account.app_passwords, record.to_doc())}

    accounts.modify(domain, username, add)
    return password, record


def delete(accounts: Accounts, security: SecurityState, domain: str, username: str,
           asp_id: str) -> None:
    """Revoke one (NotFound when the account has no such id). Every process sees it at once:
    the account file changes, which every cache checks before answering."""
    def remove(account: Account) -> dict[str, Any]:
        kept = tuple(d for d in account.app_passwords if d.get("id") != asp_id)
        if len(kept) == len(account.app_passwords):
            raise NotFound("no such application password")
        return {"app_passwords": kept}

    accounts.modify(domain, username, remove)
    security.forget_asp(domain, username, asp_id)
