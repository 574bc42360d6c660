"""``rmail provision FILE|URL [--dry-run] [--prune] [--json]``, ``rmail provision key`` and
``rmail user restore ADDRESS``.

They write through the store under the same locks as the server (safe while it runs; the
server sees the change at its next lookup). Registered on the main parser by `rmail.cli`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from rmail.config import Config
from rmail.provisioning.apply import Provisioner
from rmail.provisioning.document import MAX_DOCUMENT_BYTES, DocumentError
from rmail.provisioning.keys import generate_key
from rmail.store.accounts import Accounts
from rmail.store.errors import InvalidValue
from rmail.store.provisioning import ProvisioningStore

__all__ = ["add_commands", "add_user_commands"]

ConfigLoader = Callable[[argparse.Namespace], Config]
FETCH_TIMEOUT = 60


def read_source(source: str, config: Config, ca_file: Path | None = None) -> bytes:
    """The document from a file, `-` (stdin) or an https:// URL (verified)."""
    if source == "-":
        raw = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
    elif source.lower().startswith(("https://", "http://")):
        if not source.lower().startswith("https://"):
            raise InvalidValue("provisioning documents are fetched over https:// only")
        cafile = ca_file or config.provisioning.ca_file
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
        request = urllib.request.Request(source, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT,
                                        context=context) as response:
                raw = response.read(MAX_DOCUMENT_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise InvalidValue(f"{source}: {getattr(exc, 'reason', exc)}") from None
    else:
        try:
            with open(source, "rb") as f:
                raw = f.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as exc:
            raise InvalidValue(f"{source}: {exc.strerror or exc}") from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise InvalidValue(f"{source}: larger than {MAX_DOCUMENT_BYTES} bytes")
    return raw


def cmd_provision(args: argparse.Namespace, config: Config) -> int:
    if args.source == "key" and not Path("key").exists():
        return cmd_key(args, config)
    raw = read_source(args.source, config, args.ca_file)
    accounts = Accounts(config.mail_root)
    for domain in config.domains:
        accounts.add_domain(domain, exist_ok=True)
    provisioner = Provisioner(accounts, grace_days=config.provisioning.delete_grace_days,
                              quota_mb=config.quota_mb_default)
    try:
        report = provisioner.apply(raw, args.source, prune=args.prune, dry_run=args.dry_run)
    except DocumentError as exc:
        if args.json:
            print(json.dumps({"source": args.source, "applied": False,
                              "problems": [p.to_json() for p in exc.problems]}, indent=2))
        else:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            print(f"rmail: {args.source}: refused, {len(exc.problems)} problem(s); "
                  "nothing changed", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**report.to_json(), "applied": not args.dry_run}, indent=2,
                         ensure_ascii=False))
    else:
        for line in report.lines():
            print(line)
        if args.dry_run:
            print("(dry run: nothing changed)")
    return 0


def cmd_key(args: argparse.Namespace, config: Config) -> int:
    key, hashed = generate_key()
    print(f"API key (shown once; give it to the controller as `Authorization: Bearer KEY`):\n"
          f"  {key}\n"
          f"add this hash to provisioning.api_keys in {config.source}:\n  {hashed}")
    return 0


def cmd_restore(args: argparse.Namespace, config: Config) -> int:
    store = ProvisioningStore(Accounts(config.mail_root))
    account = store.restore(args.address)
    print(f"restored {account.address}")
    return 0


def cmd_deleted(args: argparse.Namespace, config: Config) -> int:
    store = ProvisioningStore(Accounts(config.mail_root))
    grace = config.provisioning.delete_grace_days
    for entry in store.retired(args.domain):
        when = dt.datetime.fromtimestamp(entry.deleted_at, dt.UTC).isoformat()
        print(f"{entry.address}\tdeleted {when}\tdata removed after {grace} day(s)")
    return 0


def add_commands(sub: argparse._SubParsersAction, load: ConfigLoader) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "provision", help="apply a provisioning document (FILE, URL or -); `key`: new API key",
        description="Apply a JSON provisioning document: create domains, accounts and "
        "aliases, update changed hashes and recipients. `rmail provision key` makes a REST "
        "API key (a file named `key` is given as ./key).")
    p.add_argument("source", help="a file, an https:// URL, - for stdin, or `key`")
    p.add_argument("--dry-run", action="store_true", help="only print what would change")
    p.add_argument("--prune", action="store_true",
                   help="remove accounts and aliases this document created and no longer lists")
    p.add_argument("--json", action="store_true", help="a machine-readable report")
    p.add_argument("--ca-file", type=Path, help="CA bundle for an https:// source")
    p.set_defaults(func=lambda args: cmd_provision(args, load(args)))


def add_user_commands(user: argparse._SubParsersAction, load: ConfigLoader) -> None:  # type: ignore[type-arg]
    restore = user.add_parser("restore", help="bring back a user deleted within the grace "
                              "period, with their data")
    restore.add_argument("address", help="user@domain")
    restore.set_defaults(func=lambda args: cmd_restore(args, load(args)))
    deleted = user.add_parser("deleted", help="list users deleted within the grace period")
    deleted.add_argument("domain", nargs="?")
    deleted.set_defaults(func=lambda args: cmd_deleted(args, load(args)))
