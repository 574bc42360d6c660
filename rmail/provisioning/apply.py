"""Apply a provisioning document to the store: parse, snapshot, plan, then write.

Validation is complete before the first write: a document with any problem (its own or one
against the store's state) changes nothing. One application at a time per mail root (a flock
shared by the server's periodic fetch and `rmail provision`), so the snapshot a plan was made
from is still true when it is carried out. Writes go through the store: new users in bulk
(`ProvisioningStore.create_accounts`), aliases one `domain.json` write per domain, removed
accounts with the configured grace period.

Synchronous; the server runs it on a worker thread.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

from rmail.provisioning.document import DocumentError, Problem, parse_document
from rmail.provisioning.plan import Change, Plan, make_plan
from rmail.store import fsutil
from rmail.store.accounts import Accounts
from rmail.store.provisioning import ORIGIN_FILE, ProvisioningStore

_process_lock = threading.Lock()


@dataclass
class Report:
    """What an application changed (or, with `dry_run`, would change)."""

    source: str
    digest: str
    dry_run: bool
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def summary(self) -> str:
        return (f"created {self.count('create')}, updated {self.count('update')}, "
                f"removed {self.count('remove')}, unchanged {self.unchanged}")

    def lines(self) -> list[str]:
        return [str(c) for c in self.changes] + [self.summary]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "sha256": self.digest, "dry_run": self.dry_run,
                "changes": [c.to_json() for c in self.changes],
                "created": self.count("create"), "updated": self.count("update"),
                "removed": self.count("remove"), "unchanged": self.unchanged}


def digest_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class Provisioner:
    """Applies documents to one mail root. `forget(domain, username)` is called for every
    removed account so caches of the running process drop it (the server passes
    `MailStore.forget`)."""

    def __init__(self, accounts: Accounts, *, grace_days: int, quota_mb: int = 1024,
                 forget: Any = None) -> None:
        self.store = ProvisioningStore(accounts)
        self.grace_days = grace_days
        self.quota_mb = quota_mb
        self.forget = forget

    def apply(self, raw: bytes, source: str, *, prune: bool = False,
              dry_run: bool = False) -> Report:
        """Raises `DocumentError` (every problem listed) before any write."""
        problems: list[Problem] = []
        doc = parse_document(raw, source, problems)
        lock = self.store.layout.provisioning_dir / "apply.lock"
        fsutil.ensure_dir(lock.parent)
        with _process_lock, fsutil.locked(lock):
            try:
                plan = make_plan(doc, self.store.snapshot(), prune=prune)
            except DocumentError as exc:
                problems.extend(exc.problems)
            if problems:
                raise DocumentError(problems)
            report = Report(source, digest_of(raw), dry_run, plan.changes, plan.unchanged)
            if not dry_run:
                self._carry_out(plan)
        return report

    def _carry_out(self, plan: Plan) -> None:
        store = self.store
        accounts = store.accounts
        for domain in plan.domains:
            accounts.add_domain(domain, exist_ok=True)
        for domain, removals in plan.alias_removals.items():
            store.set_aliases(domain, removals, origin=ORIGIN_FILE)
        for domain, username in plan.retire:
            store.retire(domain, username, grace_days=self.grace_days)
            if self.forget is not None:
                self.forget(domain, username)
        for domain, users in plan.new_accounts.items():
            store.create_accounts(domain, users, origin=ORIGIN_FILE, quota_mb=self.quota_mb)
        for domain, username, password_hash in plan.new_hashes + plan.remember:
            store.set_provisioned_hash(domain, username, password_hash)
        for domain, sets in plan.alias_sets.items():
            store.set_aliases(domain, sets, origin=ORIGIN_FILE)
