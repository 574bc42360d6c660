"""What applying a document would change (pure: a `Document` and a store `Snapshot` in, a
`Plan` out).

Comparisons that decide "unchanged":

- An account's password is compared with the hash the document gave it last time
  (`provisioned_hash`), not with the stored hash: a login rehashes an imported crypt hash to
  argon2id, and comparing with that would reset every logged-in user's password on every
  run. An account the document meets for the first time (made by hand or over the REST API)
  is unchanged when its stored hash is the document's; either way the hash is then
  remembered.
- An alias is unchanged when its recipients are the same addresses in the same order.

`prune` removes only what the document itself created earlier (origin "file") and no longer
lists; accounts and aliases made by hand or over other APIs are never removed. Problems that
need the store's state (an alias to a local address that will not exist, a name already taken
by an alias or another user's address) are collected like the document's own problems, and
the whole plan is refused if there is any.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rmail.provisioning.document import Document, DocumentError, Problem
from rmail.store.accounts import SUBADDRESS_DELIMITER
from rmail.store.provisioning import ORIGIN_FILE, Snapshot


@dataclass(frozen=True)
class Change:
    action: str   # "create", "update", "remove"
    kind: str     # "domain", "account", "alias"
    name: str     # the domain or the address
    detail: str = ""

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "remove": "-"}[self.action]
        extra = f" ({self.detail})" if self.detail else ""
        return f"{sign} {self.kind} {self.name}{extra}"

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "name": self.name,
                "detail": self.detail}


@dataclass
class Plan:
    domains: list[str] = field(default_factory=list)
    # domain -> [(username, hash)]
    new_accounts: dict[str, list[tuple[str, str]]] = field(
        default_factory=lambda: defaultdict(list))
    # (domain, username, hash): the password changes (or, for `remember`, only the record)
    new_hashes: list[tuple[str, str, str]] = field(default_factory=list)
    remember: list[tuple[str, str, str]] = field(default_factory=list)
    # domain -> local part -> targets (None: remove); removals run before account creation
    alias_removals: dict[str, dict[str, None]] = field(
        default_factory=lambda: defaultdict(dict))
    alias_sets: dict[str, dict[str, tuple[str, ...]]] = field(
        default_factory=lambda: defaultdict(dict))
    retire: list[tuple[str, str]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)


def make_plan(doc: Document, snap: Snapshot, *, prune: bool) -> Plan:
    """The changes that bring the store to the document; DocumentError lists every conflict."""
    plan = Plan()
    problems: list[Problem] = []
    listed_accounts = {(d.name, a) for d in doc.domains.values() for a in d.accounts}
    listed_aliases = {(d.name, a) for d in doc.domains.values() for a in d.aliases}

    # What prune takes away (computed first: the document may reuse a name it frees).
    pruned_accounts: set[tuple[str, str]] = set()
    pruned_aliases: set[tuple[str, str]] = set()
    if prune:
        pruned_accounts = {key for key, acc in snap.accounts.items()
                           if acc.origin == ORIGIN_FILE and key not in listed_accounts}
        pruned_aliases = {key for key, alias in snap.aliases.items()
                          if alias.origin == ORIGIN_FILE and key not in listed_aliases}

    for spec in doc.domains.values():
        d = spec.name
        if d not in snap.domains:
            plan.domains.append(d)
            plan.changes.append(Change("create", "domain", d))
        for name, acc in spec.accounts.items():
            where = f"account[{acc.index}].name"
            address = f"{name}@{d}"
            current = snap.accounts.get((d, name))
            if current is None:
                owner = snap.addresses.get(address)
                if owner is not None and owner not in pruned_accounts:
                    problems.append(Problem(doc.source, spec.key, where,
                                            f"{address} is an address of {owner[1]}@{owner[0]}"))
                    continue
                taken = snap.aliases.get((d, name))
                if taken is not None and (d, name) not in listed_aliases:
                    if taken.origin != ORIGIN_FILE:
                        problems.append(Problem(doc.source, spec.key, where,
                                                f"{address} is an alias made outside this "
                                                "document; remove it first"))
                        continue
                    plan.alias_removals[d][name] = None
                    pruned_aliases.discard((d, name))
                    plan.changes.append(Change("remove", "alias", address, "now an account"))
                plan.new_accounts[d].append((name, acc.password))
                plan.changes.append(Change("create", "account", address))
            elif current.provisioned_hash == acc.password:
                plan.unchanged += 1
            elif not current.provisioned_hash and current.password_hash == acc.password:
                plan.remember.append((d, name, acc.password))
                plan.unchanged += 1
            else:
                plan.new_hashes.append((d, name, acc.password))
                plan.changes.append(Change("update", "account", address, "password"))

    # The local addresses that will exist afterwards, for the aliases' recipients.
    def will_exist(address: str) -> bool:
        local, _, domain = address.rpartition("@")
        base = local.split(SUBADDRESS_DELIMITER, 1)[0] if SUBADDRESS_DELIMITER in local \
            else local
        for candidate in dict.fromkeys((local, base)):
            key = (domain, candidate)
            if key in listed_accounts or key in listed_aliases:
                return True
            owner = snap.addresses.get(f"{candidate}@{domain}")
            if owner is not None and owner not in pruned_accounts:
                return True
            if key in snap.aliases and key not in pruned_aliases:
                return True
            if snap.matches_rule(domain, candidate):
                return True
        return False

    local_domains = snap.domains | set(doc.domains)
    for spec in doc.domains.values():
        d = spec.name
        for name, alias in spec.aliases.items():
            address = f"{name}@{d}"
            where = f"alias[{alias.index}]"
            owner = snap.addresses.get(address)
            if owner is not None and owner not in pruned_accounts:
                problems.append(Problem(doc.source, spec.key, f"{where}.name",
                                        f"{address} is an address of {owner[1]}@{owner[0]}"))
                continue
            missing = [t for t in alias.to
                       if t.rpartition("@")[2] in local_domains and not will_exist(t)]
            if missing:
                problems.append(Problem(doc.source, spec.key, f"{where}.to",
                                        f"no local account or alias {', '.join(missing)}"))
                continue
            current_alias = snap.aliases.get((d, name))
            if current_alias is None:
                plan.alias_sets[d][name] = alias.to
                plan.changes.append(Change("create", "alias", address))
            elif current_alias.targets != alias.to:
                plan.alias_sets[d][name] = alias.to
                plan.changes.append(Change("update", "alias", address, "to"))
            else:
                plan.unchanged += 1

    for d, name in sorted(pruned_aliases):
        plan.alias_removals[d][name] = None
        plan.changes.append(Change("remove", "alias", f"{name}@{d}"))
    for d, name in sorted(pruned_accounts):
        plan.retire.append((d, name))
        plan.changes.append(Change("remove", "account", f"{name}@{d}"))
    if problems:
        raise DocumentError(problems)
    return plan
