"""``rmail queue list|retry|delete`` and ``rmail dkim generate|show``.

They work on the files under ``{mail_root}`` with the same locks as the server, so they are
safe while it runs; a running server sees a retry or a deletion at its next queue scan (within
a few seconds). Registered on the main parser by `rmail.cli`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from rmail.config import Config
from rmail.queue.dkim import DEFAULT_SELECTOR, SELECTOR_SETTING, dns_record, generate_key
from rmail.queue.spool import PENDING, QueuedMessage, Spool, check_queue_id
from rmail.store.accounts import Accounts, normalize_domain
from rmail.store.errors import InvalidValue, NotFound
from rmail.store.layout import Layout

__all__ = ["add_commands"]

ConfigLoader = Callable[[argparse.Namespace], Config]


def _when(ts: float | None) -> str:
    if not ts:
        return "now"
    return dt.datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _spool(config: Config) -> Spool:
    return Spool(Layout(config.mail_root))


def _ids(values: list[str]) -> list[str]:
    try:
        return [check_queue_id(v) for v in values]
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None


def _summary(message: QueuedMessage) -> dict[str, Any]:
    return {
        "id": message.id, "from": message.mail_from, "size": message.size,
        "created": _when(message.created), "expires": _when(message.expires),
        "legs": [{"domain": leg.domain, "local": leg.local, "attempts": leg.attempts,
                  "next_attempt": _when(leg.next_attempt) if leg.pending else None,
                  "last_error": leg.last_error,
                  "recipients": [{"address": r.address, "status": r.status, "reply": r.reply}
                                 for r in leg.recipients]}
                 for leg in message.legs],
    }


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    spool = _spool(config)
    messages = [m for m in (spool.load(q) for q in spool.ids()) if m is not None]
    if args.json:
        print(json.dumps([_summary(m) for m in messages], indent=2, ensure_ascii=False))
        return 0
    for m in messages:
        age = int(time.time() - m.created)
        print(f"{m.id}  {m.size} bytes  age {age}s  from <{m.mail_from}>")
        for leg in m.legs:
            state = (f"next attempt {_when(leg.next_attempt)}" if leg.pending
                     else "done")
            kind = "local retry" if leg.local else leg.domain
            print(f"    {kind}: {leg.attempts} attempt(s), {state}")
            for r in leg.recipients:
                reply = f"  ({r.reply})" if r.reply and r.status == PENDING else ""
                print(f"        {r.address}  {r.status}{reply}")
    print(f"{len(messages)} message(s) queued")
    return 0


def cmd_retry(args: argparse.Namespace, config: Config) -> int:
    spool = _spool(config)
    ids = _ids(args.ids) if args.ids else spool.ids()

    def now(message: QueuedMessage) -> None:
        for leg in message.legs:
            if leg.pending:
                leg.next_attempt = 0.0

    count = 0
    for queue_id in ids:
        if spool.update(queue_id, now) is None:
            if args.ids:
                raise NotFound(f"no queued message {queue_id}")
        else:
            count += 1
    print(f"{count} message(s) scheduled for immediate retry")
    return 0


def cmd_delete(args: argparse.Namespace, config: Config) -> int:
    spool = _spool(config)
    if args.all == bool(args.ids):
        raise InvalidValue("give queue ids or --all")
    ids = spool.ids() if args.all else _ids(args.ids)
    missing = [q for q in ids if not spool.remove(q)]
    if missing and not args.all:
        raise NotFound(f"no queued message {', '.join(missing)}")
    print(f"deleted {len(ids) - len(missing)} message(s)")
    return 0


def cmd_dkim_generate(args: argparse.Namespace, config: Config) -> int:
    accounts = Accounts(config.mail_root)
    for domain in config.domains:  # as the server creates them at startup
        accounts.add_domain(domain, exist_ok=True)
    path, record = generate_key(config.mail_root, args.domain, selector=args.selector,
                                bits=args.bits, force=args.force)
    print(f"key: {path}")
    print("publish this DNS record:")
    print(record)
    return 0


def cmd_dkim_show(args: argparse.Namespace, config: Config) -> int:
    domain = normalize_domain(args.domain)
    selector = Accounts(config.mail_root).domain(domain).settings.get(SELECTOR_SETTING)
    if not selector:
        raise NotFound(f"{domain} has no DKIM key (rmail dkim generate {domain})")
    path = Layout(config.mail_root).dkim_key(domain, selector)
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"the DKIM key file {path} is missing") from None
    print(dns_record(domain, selector, pem))
    return 0


def _bits(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bits, got {text!r}") from None
    if value not in (1024, 2048, 3072, 4096):
        raise argparse.ArgumentTypeError("bits must be 1024, 2048, 3072 or 4096")
    return value


def add_commands(sub: Any, load: ConfigLoader) -> None:
    """Add ``queue`` and ``dkim`` to the CLI's subparsers; ``load`` reads the config."""

    def run(fn: Callable[[argparse.Namespace, Config], int]) -> Callable[..., int]:
        return lambda args: fn(args, load(args))

    queue = sub.add_parser("queue", help="inspect and manage the outbound queue")
    qsub = queue.add_subparsers(metavar="ACTION")
    ls = qsub.add_parser("list", help="show queued messages and their recipients")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run(cmd_list))
    retry = qsub.add_parser("retry", help="attempt delivery now (all, or the given ids)")
    retry.add_argument("ids", nargs="*", metavar="ID")
    retry.set_defaults(func=run(cmd_retry))
    delete = qsub.add_parser("delete", help="remove messages from the queue (no bounce)")
    delete.add_argument("ids", nargs="*", metavar="ID")
    delete.add_argument("--all", action="store_true", help="remove every queued message")
    delete.set_defaults(func=run(cmd_delete))

    dkim = sub.add_parser("dkim", help="DKIM signing keys")
    dsub = dkim.add_subparsers(metavar="ACTION")
    gen = dsub.add_parser("generate", help="create a domain's key and print its DNS record")
    gen.add_argument("domain")
    gen.add_argument("--selector", default=DEFAULT_SELECTOR,
                     help=f"DNS selector (default {DEFAULT_SELECTOR})")
    gen.add_argument("--bits", type=_bits, default=2048, help="RSA key size (default 2048)")
    gen.add_argument("--force", action="store_true", help="replace an existing key")
    gen.set_defaults(func=run(cmd_dkim_generate))
    show = dsub.add_parser("show", help="print the DNS record of a domain's key")
    show.add_argument("domain")
    show.set_defaults(func=run(cmd_dkim_show))
