"""The `rmail` command line: serve, manage users, domains and aliases, check the store.

Every management command writes through the storage core under the same locks as the server,
so it is safe to run while the server runs. Errors print one line to stderr and exit non-zero
(1 for a refused operation, 2 for bad usage).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rmail import __version__
from rmail.config import Config, ConfigError, load_config
from rmail.store.accounts import Accounts, check_password, normalize_domain, split_address
from rmail.store.errors import StoreError

DEMO_DOMAIN = "example.com"
DEMO_USER = "admin"
DEMO_FILE = "demo-credentials.txt"


class CliError(Exception):
    """A refused command: printed as `rmail: message`, exit status 1."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"rmail: {exc}", file=sys.stderr)
        return 2
    except (CliError, StoreError) as exc:
        print(f"rmail: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# -- helpers ---------------------------------------------------------------------------------
def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _accounts(args: argparse.Namespace, config: Config | None = None) -> Accounts:
    """The accounts store, with the configured domains present (as the server makes them)."""
    config = config or _config(args)
    accounts = Accounts(config.mail_root)
    for domain in config.domains:
        accounts.add_domain(domain, exist_ok=True)
    return accounts


def _user_address(text: str) -> tuple[str, str]:
    """`user@domain` -> (domain, username)."""
    if "@" not in text:
        raise CliError(f"{text!r}: give the user as user@domain")
    try:
        local, domain = split_address(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return domain, local


def _read_password(args: argparse.Namespace, *, required: bool) -> str | None:
    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getattr(args, "password", None)
    if password is None:
        return None if not required else _generated(args)
    try:
        return check_password(password)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _generated(args: argparse.Namespace) -> str:
    password = secrets.token_urlsafe(12)
    args.generated_password = password
    return password


def _hash(password: str) -> str:
    from rmail.auth.passwords import hash_password

    return hash_password(password)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


# -- serve -----------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from rmail.server import run

    config = _config(args)
    on_started: Callable[[object], None] | None = None
    if args.demo:
        config.mail_root.mkdir(parents=True, exist_ok=True)
        message = ensure_demo(config)

        def on_started(_server: object) -> None:
            print(message, flush=True)

    return run(config, on_started=on_started)


def ensure_demo(config: Config) -> str:
    """Create the demo domain and admin on first run; return the lines to print."""
    accounts = _accounts(argparse.Namespace(), config)
    creds = config.mail_root / DEMO_FILE
    domain = config.domains[0] if config.domains else DEMO_DOMAIN
    address = f"{DEMO_USER}@{domain}"
    if accounts.find_address(address) is None:
        password = secrets.token_urlsafe(12)
        accounts.create(domain, DEMO_USER, _hash(password), admin=True,
                        quota_mb=config.quota_mb_default, display_name="Demo admin")
        fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{address}\n{password}\n")
    try:
        user, password = creds.read_text().split("\n")[:2]
    except (OSError, ValueError):
        return f"demo login: {address} (password changed since first run; see `rmail user passwd`)"
    return (f"demo login: {user}\ndemo password: {password}\n"
            f"(stored in {creds}; change it with `rmail user passwd {user}`)")


# -- users -----------------------------------------------------------------------------------
def cmd_user_add(args: argparse.Namespace) -> int:
    config = _config(args)
    accounts = _accounts(args, config)
    domain, username = _user_address(args.user)
    if args.password_hash:
        from rmail.auth.passwords import is_supported_hash

        if not is_supported_hash(args.password_hash):
            raise CliError("unsupported password hash (argon2, bcrypt, $1$, $5$, $6$ accepted)")
        hashed = args.password_hash
    else:
        hashed = _hash(_read_password(args, required=True) or "")
    quota = args.quota if args.quota is not None else config.quota_mb_default
    if not accounts.has_domain(domain) and not args.create_domain:
        raise CliError(f"no domain {domain}; add it first (`rmail domain add {domain}`) "
                       f"or pass --create-domain")
    acc = accounts.create(domain, username, hashed, admin=args.admin, quota_mb=quota,
                          display_name=args.name or "", addresses=args.address or ())
    print(f"created {acc.address}")
    if getattr(args, "generated_password", None):
        print(f"password: {args.generated_password}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    accounts = _accounts(args)
    domains = [args.domain] if args.domain else accounts.domains()
    for domain in domains:
        for acc in accounts.users(domain):
            flags = " ".join(f for f, on in (("admin", acc.admin),
                                             ("disabled", not acc.enabled)) if on)
            print(f"{acc.address}\t{acc.quota_mb} MB\t{flags}".rstrip())
    return 0


def cmd_user_show(args: argparse.Namespace) -> int:
    accounts = _accounts(args)
    acc = accounts.get(*_user_address(args.user))
    _print_json(acc.public())
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    accounts = _accounts(args)
    domain, username = _user_address(args.user)
    accounts.get(domain, username)
    password = _read_password(args, required=True) or ""
    accounts.update(domain, username, password_hash=_hash(password))
    print(f"password of {username}@{domain} changed")
    if getattr(args, "generated_password", None):
        print(f"password: {args.generated_password}")
    return 0


def cmd_user_set(args: argparse.Namespace) -> int:
    accounts = _accounts(args)
    domain, username = _user_address(args.user)
    acc = accounts.get(domain, username)
    changes: dict[str, Any] = {}
    for key in ("admin", "enabled", "display_name", "submission_enabled", "pop3_enabled",
                "recipients_per_day"):
        value = getattr(args, key)
        if value is not None:
            changes[key] = value
    if args.quota is not None:
        changes["quota_mb"] = args.quota
    if args.admin_domains is not None:
        wanted = [d.strip() for d in args.admin_domains.split(",") if d.strip()]
        for name in wanted:
            if not accounts.has_domain(name):
                raise CliError(f"no domain {name}; add it first (`rmail domain add {name}`)")
        changes["admin_domains"] = wanted
    if args.sender_whitelist is not None:
        changes["sender_whitelist"] = [s.strip() for s in args.sender_whitelist.split(",")
                                       if s.strip()]
    if args.add_address or args.remove_address:
        addresses = [a for a in acc.addresses
                     if a not in {x.lower() for x in args.remove_address or ()}]
        changes["addresses"] = [*addresses, *(args.add_address or ())]
    if not changes:
        raise CliError("nothing to change (see `rmail user set --help`)")
    acc = accounts.update(domain, username, **changes)
    _print_json(acc.public())
    return 0


def cmd_user_delete(args: argparse.Namespace) -> int:
    accounts = _accounts(args)
    domain, username = _user_address(args.user)
    accounts.get(domain, username)
    if not args.yes:
        raise CliError(f"this deletes {username}@{domain} and all their mail, calendars and "
                       f"files; repeat with --yes")
    accounts.delete(domain, username)
    print(f"deleted {username}@{domain}")
    return 0


# -- domains ----------------------------------------------------------------------------------
def cmd_domain_add(args: argparse.Namespace) -> int:
    name = _accounts(args).add_domain(args.domain)
    print(f"added {name}")
    return 0


def cmd_domain_list(args: argparse.Namespace) -> int:
    accounts = _accounts(args)
    for domain in accounts.domains():
        print(f"{domain}\t{len(accounts.users(domain))} user(s)")
    return 0


def cmd_domain_delete(args: argparse.Namespace) -> int:
    config = _config(args)
    accounts = _accounts(args, config)
    if accounts.has_domain(args.domain) and \
            normalize_domain(args.domain) in {normalize_domain(d) for d in config.domains}:
        raise CliError(f"{args.domain} is listed in {config.source} `domains` and would be "
                       f"created again at the next start; remove it there first")
    accounts.delete_domain(args.domain, force=args.force)
    print(f"deleted {args.domain}")
    return 0


# -- aliases ----------------------------------------------------------------------------------
def cmd_alias_add(args: argparse.Namespace) -> int:
    accounts = _accounts(args)
    if args.regex:
        if len(args.values) != 2:
            raise CliError("usage: rmail alias add --regex DOMAIN PATTERN TARGET")
        domain, (pattern, target) = args.alias, args.values
        rule = accounts.add_alias_rule(domain, pattern, target)
        print(f"added rule {rule.pattern} -> {rule.target}")
        return 0
    if len(args.values) != 1:
        raise CliError("usage: rmail alias add ALIAS@DOMAIN TARGET[,TARGET...]")
    domain, local = _user_address(args.alias)
    targets = accounts.set_alias(domain, local, args.values[0])
    print(f"{local}@{domain} -> {', '.join(targets)}")
    return 0


def cmd_alias_list(args: argparse.Namespace) -> int:
    accounts = _accounts(args)
    for domain in [args.domain] if args.domain else accounts.domains():
        for local, targets in sorted(accounts.plain_aliases(domain).items()):
            print(f"{local}@{domain}\t{', '.join(targets)}")
        for rule in accounts.alias_rules(domain):
            print(f"{domain}\t/{rule.pattern}/\t{rule.target}")
    return 0


def cmd_alias_delete(args: argparse.Namespace) -> int:
    accounts = _accounts(args)
    if args.regex:
        if args.pattern is None:
            raise CliError("usage: rmail alias delete --regex DOMAIN PATTERN")
        accounts.delete_alias_rule(args.alias, args.pattern)
        print(f"deleted rule {args.pattern}")
        return 0
    domain, local = _user_address(args.alias)
    accounts.delete_alias(domain, local)
    print(f"deleted {local}@{domain}")
    return 0


# -- check -------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    from rmail.store.check import check_store

    config = _config(args)
    report = check_store(config.mail_root, repair=not args.no_repair, deep=args.deep)
    for line in report.lines:
        print(line)
    print(f"checked {report.folders} folder(s), {report.messages} message(s): "
          f"{report.problems} problem(s), {report.repaired} repaired")
    if args.reindex:
        from rmail.store.searchindex import reindex_all

        print(f"search index rebuilt: {reindex_all(config.mail_root)} message(s)")
    return 1 if report.problems > report.repaired else 0


# -- parser ------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rmail", description="rmail: mail, calendar and files "
                                "from one process over plain files.")
    p.add_argument("--version", action="version", version=f"rmail {__version__}")
    p.add_argument("--config", type=Path, default=None,
                   help="config file (default: $RMAIL_CONFIG or ./config.json)")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run every enabled listener")
    serve.add_argument("--demo", action="store_true",
                       help="create the demo domain and admin on first run and print the login")
    serve.set_defaults(func=cmd_serve)

    user = sub.add_parser("user", help="manage users").add_subparsers(metavar="ACTION")
    add = user.add_parser("add", help="create a user (and print a generated password)")
    add.add_argument("user", help="user@domain")
    _password_args(add)
    add.add_argument("--password-hash", help="import an existing hash ($1$, $6$, bcrypt, argon2)")
    add.add_argument("--admin", action="store_true", help="grant admin rights")
    add.add_argument("--quota", type=_positive_int, help="quota in MB (default: quota_mb_default)")
    add.add_argument("--name", help="display name")
    add.add_argument("--address", action="append", help="an extra address (repeatable)")
    add.add_argument("--create-domain", action="store_true", help="create the domain if missing")
    add.set_defaults(func=cmd_user_add)

    ls = user.add_parser("list", help="list users")
    ls.add_argument("domain", nargs="?")
    ls.set_defaults(func=cmd_user_list)

    show = user.add_parser("show", help="show a user as JSON")
    show.add_argument("user")
    show.set_defaults(func=cmd_user_show)

    passwd = user.add_parser("passwd", help="set a new password (generated if not given)")
    passwd.add_argument("user")
    _password_args(passwd)
    passwd.set_defaults(func=cmd_user_passwd)

    st = user.add_parser("set", help="change account fields")
    st.add_argument("user")
    st.add_argument("--admin", type=_bool, help="true/false")
    st.add_argument("--enabled", type=_bool, help="true/false")
    st.add_argument("--quota", type=_positive_int, help="quota in MB")
    st.add_argument("--name", dest="display_name", help="display name")
    st.add_argument("--submission", dest="submission_enabled", type=_bool,
                    help="allow sending through submission (true/false)")
    st.add_argument("--pop3", dest="pop3_enabled", type=_bool,
                    help="allow POP3 access (true/false)")
    st.add_argument("--sender-whitelist", help="comma-separated addresses, domains or *")
    st.add_argument("--recipients-per-day", type=_positive_int)
    st.add_argument("--add-address", action="append")
    st.add_argument("--remove-address", action="append")
    st.add_argument("--admin-domains", help="comma-separated domains this user administers "
                    "(users and aliases of those domains only); empty to clear")
    st.set_defaults(func=cmd_user_set)

    delete = user.add_parser("delete", help="delete a user and all their data")
    delete.add_argument("user")
    delete.add_argument("--yes", action="store_true", help="confirm")
    delete.set_defaults(func=cmd_user_delete)

    from rmail.provisioning.commands import add_commands as add_provisioning
    from rmail.provisioning.commands import add_user_commands

    add_user_commands(user, _config)  # `rmail user restore|deleted`
    from rmail.auth.commands import add_user_commands as add_auth_commands

    add_auth_commands(user, _config)  # `rmail user app-password add|list|delete`

    domain = sub.add_parser("domain", help="manage domains").add_subparsers(metavar="ACTION")
    dadd = domain.add_parser("add", help="add a domain")
    dadd.add_argument("domain")
    dadd.set_defaults(func=cmd_domain_add)
    dls = domain.add_parser("list", help="list domains")
    dls.set_defaults(func=cmd_domain_list)
    ddel = domain.add_parser("delete", help="delete a domain")
    ddel.add_argument("domain")
    ddel.add_argument("--force", action="store_true", help="also delete its users")
    ddel.set_defaults(func=cmd_domain_delete)

    alias = sub.add_parser("alias", help="manage aliases").add_subparsers(metavar="ACTION")
    aadd = alias.add_parser("add", help="ALIAS@DOMAIN TARGET[,TARGET...] | --regex DOMAIN "
                            "PATTERN TARGET")
    aadd.add_argument("--regex", action="store_true", help="add a regex rule")
    aadd.add_argument("alias")
    aadd.add_argument("values", nargs="+")
    aadd.set_defaults(func=cmd_alias_add)
    als = alias.add_parser("list", help="list aliases and rules")
    als.add_argument("domain", nargs="?")
    als.set_defaults(func=cmd_alias_list)
    adel = alias.add_parser("delete", help="ALIAS@DOMAIN | --regex DOMAIN PATTERN")
    adel.add_argument("--regex", action="store_true")
    adel.add_argument("alias")
    adel.add_argument("pattern", nargs="?")
    adel.set_defaults(func=cmd_alias_delete)

    check = sub.add_parser("check", help="verify and repair the store")
    check.add_argument("--no-repair", action="store_true", help="only report")
    check.add_argument("--deep", action="store_true", help="also parse every meta record")
    check.add_argument("--reindex", action="store_true",
                       help="rebuild every user's full-text search index")
    check.set_defaults(func=cmd_check)

    from rmail.queue.commands import add_commands  # `rmail queue ...` and `rmail dkim ...`

    add_commands(sub, _config)
    add_provisioning(sub, _config)  # `rmail provision FILE|URL|key`
    return p


def _password_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--password", help="the password (visible in `ps`; prefer stdin)")
    group.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of stdin")
