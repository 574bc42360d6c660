"""`rmail user app-password add|list|delete`: application passwords from the command line,
through the same functions as the API and the webmail (`rmail.auth.apppasswords`), noted in
the user's auth log (protocol `cli`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from rmail.auth import Authenticator, LoginInfo, apppasswords
from rmail.config import Config
from rmail.store.accounts import Accounts, split_address
from rmail.store.errors import InvalidValue

ConfigLoader = Callable[[argparse.Namespace], Config]


def _target(config: Config, address: str) -> tuple[Authenticator, str, str]:
    if "@" not in address:
        raise InvalidValue(f"{address!r}: give the user as user@domain")
    local, domain = split_address(address)
    auth = Authenticator(Accounts(config.mail_root))
    owner = auth.accounts.find_address(f"{local}@{domain}")
    if owner is None:
        raise InvalidValue(f"no user {local}@{domain}")
    return auth, owner[0], owner[1]


def cmd_add(args: argparse.Namespace, config: Config) -> int:
    auth, domain, username = _target(config, args.user)
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    password, record = apppasswords.create(auth.accounts, domain, username, args.description,
                                           scopes)
    account = auth.accounts.get(domain, username)
    auth.log_event(account, "create asp", "success", info=LoginInfo("cli"), asp=record.id)
    print(f"id: {record.id}")
    print(f"scopes: {' '.join(record.scopes)}")
    print(f"password: {password}")
    return 0


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    auth, domain, username = _target(config, args.user)
    account = auth.accounts.get(domain, username)
    usage = auth.security.asp_usage(domain, username)
    out = []
    for record in apppasswords.records(account.app_passwords):
        used = usage.get(record.id) or {}
        out.append({**record.public(), "last_used": used.get("last_used"),
                    "last_ip": used.get("last_ip")})
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def cmd_delete(args: argparse.Namespace, config: Config) -> int:
    auth, domain, username = _target(config, args.user)
    apppasswords.delete(auth.accounts, auth.security, domain, username, args.id)
    account = auth.accounts.get(domain, username)
    auth.log_event(account, "delete asp", "success", info=LoginInfo("cli"), asp=args.id)
    print(f"deleted {args.id}")
    return 0


def add_user_commands(user: argparse._SubParsersAction, load: ConfigLoader) -> None:  # type: ignore[type-arg]
    asp = user.add_parser("app-password", help="application passwords (for mail clients "
                          "that cannot do two-factor)").add_subparsers(metavar="ACTION")
    add = asp.add_parser("add", help="create one and print it (shown only this once)")
    add.add_argument("user", help="user@domain")
    add.add_argument("--scopes", required=True,
                     help=f"comma-separated: {', '.join((*apppasswords.SCOPES, '*'))}")
    add.add_argument("--description", required=True, help="e.g. the client's name")
    add.set_defaults(func=lambda args: cmd_add(args, load(args)))
    ls = asp.add_parser("list", help="list them (never the passwords) as JSON")
    ls.add_argument("user", help="user@domain")
    ls.set_defaults(func=lambda args: cmd_list(args, load(args)))
    delete = asp.add_parser("delete", help="revoke one at once")
    delete.add_argument("user", help="user@domain")
    delete.add_argument("id")
    delete.set_defaults(func=lambda args: cmd_delete(args, load(args)))
