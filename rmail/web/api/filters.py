"""`/users/{user}/filters[/{filter}]`: the filters delivery applies (`rmail.mail.filters`),
plus `dry-run` (which of the newest messages one would match) and `apply` (run it over mail
already stored), and `POST /users/{user}/quota/reset`.

Every write goes through `rmail.store.mailrules` (locked, durable): a 2xx means every
worker's next delivery uses it. Values are checked before anything is written: an unknown
mailbox id, a forward target that is the user's own address or that forwards back to the
user, or a malformed query is a 400 naming the field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from aiohttp import web

from rmail.delivery.rules import check_forward_target, folder_for_id
from rmail.mail.filters import (
    FILTER_KEYS,
    Filter,
    MessageFacts,
    check_filter_id,
    evaluate,
    parse_filter,
)
from rmail.services import Services
from rmail.store.errors import InvalidValue, NotFound
from rmail.store.mailbox import UserMailbox
from rmail.store.usage import user_usage
from rmail.web.api.base import core, query_int, read_json, run
from rmail.web.api.users import UserTarget, resolve_user, success
from rmail.web.errors import ApiError

__all__ = ["DRY_RUN_DEFAULT", "DRY_RUN_MAX", "check_target", "routes"]

routes = web.RouteTableDef()

DRY_RUN_DEFAULT = 50
DRY_RUN_MAX = 1000
APPLY_DEFAULT = 1000
APPLY_MAX = 10_000
INBOX = "INBOX"


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def check_target(services: Services, target: UserTarget, address: str) -> str:
    """A forward address for the target's account (`rules.check_forward_target`)."""
    return check_forward_target(services.accounts, services.delivery.rules.store,
                                target.account, address)


def _check_mailbox(services: Services, target: UserTarget, f: Filter) -> None:
    mailbox_id = f.action.get("mailbox")
    if mailbox_id is None:
        return
    try:
        folder_for_id(services.mail, target.domain, target.username, mailbox_id)
    except NotFound:
        raise InvalidValue(f"action.mailbox: no mailbox with id {mailbox_id}") from None


def _build(services: Services, target: UserTarget, body: dict[str, Any], filter_id: str,
           created: str) -> Filter:
    """Parse and check a filter off the loop (address lookups read the store)."""
    f = parse_filter(body, filter_id=filter_id, created=created,
                     check_address=lambda a: check_target(services, target, a))
    _check_mailbox(services, target, f)
    return f


def _filter_id(request: web.Request) -> str:
    try:
        return check_filter_id(request.match_info["filter"])
    except InvalidValue:
        raise ApiError(404, "No such filter") from None


def _find(services: Services, target: UserTarget, filter_id: str) -> Filter:
    for f in services.delivery.rules.store.get(target.domain, target.username).filters:
        if f.id == filter_id:
            return f
    raise ApiError(404, "No such filter")


# -- CRUD ----------------------------------------------------------------------------------------
@routes.get("/users/{user}/filters")
async def list_filters(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    rules = await run(core(request).delivery.rules.store.get, target.domain, target.username)
    return success({"results": [f.to_doc() for f in rules.filters]})


@routes.post("/users/{user}/filters")
async def create_filter(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    body = await read_json(request, allowed=[k for k in FILTER_KEYS if k not in ("id",
                                                                                  "created")])
    services = core(request)
    built = await run(_build, services, target, body, "0" * 24, _now())  # id given below
    made = await run(services.delivery.rules.store.add_filter, target.domain, target.username,
                     lambda fid: dataclasses.replace(built, id=fid))
    return success({"id": made.id, "filter": made.to_doc()}, status=201)


@routes.get("/users/{user}/filters/{filter}")
async def get_filter(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    filter_id = _filter_id(request)
    f = await run(_find, core(request), target, filter_id)
    return success(f.to_doc())


@routes.put("/users/{user}/filters/{filter}")
async def update_filter(request: web.Request) -> web.Response:
    """Change the fields given (``query`` and ``action`` are replaced whole)."""
    target = await resolve_user(request)
    filter_id = _filter_id(request)
    body = await read_json(request, allowed=("name", "query", "action", "disabled"))
    if not body:
        raise ApiError(400, "Nothing to change")
    services = core(request)

    def edit(old: Filter) -> Filter:
        doc = {k: v for k, v in old.to_doc().items() if k not in ("id", "created")}
        doc.update(body)
        return _build(services, target, doc, old.id, old.created)

    new = await run(services.delivery.rules.store.replace_filter, target.domain,
                    target.username, filter_id, edit)
    return success({"id": new.id, "filter": new.to_doc()})


@routes.delete("/users/{user}/filters/{filter}")
async def delete_filter(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    filter_id = _filter_id(request)
    await run(core(request).delivery.rules.store.delete_filter, target.domain, target.username,
              filter_id)
    return success()


# -- dry run and apply ---------------------------------------------------------------------------
def _mailbox_param(request: web.Request, services: Services, target: UserTarget) -> str:
    """The folder a dry run or an apply looks at: `mailbox` (an id), INBOX by default."""
    mailbox_id = request.query.get("mailbox")
    if not mailbox_id:
        return INBOX
    try:
        return folder_for_id(services.mail, target.domain, target.username, mailbox_id)
    except NotFound:
        raise ApiError(404, f"No mailbox with id {mailbox_id}") from None


async def _over_messages(request: web.Request, fn: Callable[..., dict[str, Any]],
                         default: int, most: int) -> web.Response:
    """Run ``fn(services, target, filter, folder name, limit)`` for a dry run or an apply."""
    target = await resolve_user(request)
    filter_id = _filter_id(request)
    services = core(request)
    limit = query_int(request, "limit", default, 1, most)
    f = await run(_find, services, target, filter_id)
    name = await run(_mailbox_param, request, services, target)
    return success(await run(fn, services, target, f, name, limit))


def _matches(mailbox: UserMailbox, name: str, f: Filter, limit: int
             ) -> tuple[int, list[tuple[int, MessageFacts, Any]]]:
    """(messages checked, the newest ``limit`` messages that ``f`` matches)."""
    folder = mailbox.folder(name)
    records = folder.records(0, limit, newest_first=True)
    hits = []
    for rec in records:
        try:
            raw = folder.read_message(rec.uid)
        except NotFound:
            continue  # expunged meanwhile
        facts = MessageFacts(raw)
        verdict = evaluate([f], facts)
        if verdict.matched:
            hits.append((rec.uid, facts, verdict))
    return len(records), hits


def _dry_run(services: Services, target: UserTarget, f: Filter, name: str, limit: int
             ) -> dict[str, Any]:
    mailbox = services.mail.mailbox(target.domain, target.username)
    checked, hits = _matches(mailbox, name, f, limit)
    folder = mailbox.folder(name)
    results = [{"mailbox": folder.mailbox_id(), "uid": uid,
                "from": facts.header("from"), "subject": facts.header("subject"),
                "size": facts.size} for uid, facts, _ in hits]
    return {"checked": checked, "matched": len(results), "results": results}


@routes.post("/users/{user}/filters/{filter}/dry-run")
async def dry_run(request: web.Request) -> web.Response:
    """Which of the newest ``limit`` messages of the folder (INBOX unless ``mailbox``) the
    filter would match; changes nothing."""
    return await _over_messages(request, _dry_run, DRY_RUN_DEFAULT, DRY_RUN_MAX)


def _apply(services: Services, target: UserTarget, f: Filter, name: str, limit: int
           ) -> dict[str, Any]:
    """Apply ``f`` to the newest ``limit`` messages of the folder: flags, then moves
    (`mailbox`, `spam`; `delete` moves to Trash, since mail already stored is never
    destroyed by a filter). Forward targets are not applied to old mail."""
    mailbox = services.mail.mailbox(target.domain, target.username)
    checked, hits = _matches(mailbox, name, f, limit)
    folder = mailbox.folder(name)
    uids = [uid for uid, _, _ in hits]
    counts = {"checked": checked, "matched": len(uids), "flagged": 0, "moved": 0}
    flags = [flag for key, flag in (("seen", "\\Seen"), ("flag", "\\Flagged"))
             if f.action.get(key)]
    if uids and flags:
        counts["flagged"] = len(folder.store_flags(uids, "add", flags).changed)
    dest = None
    if "mailbox" in f.action:
        try:
            dest = mailbox.folder(folder_for_id(services.mail, target.domain, target.username,
                                                f.action["mailbox"]))
        except NotFound:
            raise InvalidValue("the filter's mailbox no longer exists") from None
    elif f.action.get("spam"):
        dest = mailbox.folder_by_special_use("\\Junk")
    elif f.action.get("delete"):
        dest = mailbox.folder_by_special_use("\\Trash")
    if uids and dest is not None and dest.id != folder.id:
        counts["moved"] = len(folder.move(uids, dest))
    return counts


@routes.post("/users/{user}/filters/{filter}/apply")
async def apply_filter(request: web.Request) -> web.Response:
    """Run the filter over the newest ``limit`` messages of the folder (INBOX unless
    ``mailbox``) and return the counts."""
    return await _over_messages(request, _apply, APPLY_DEFAULT, APPLY_MAX)


# -- quota -----------------------------------------------------------------------------------
def _reset_quota(services: Services, target: UserTarget) -> int:
    mailbox = services.mail.mailbox(target.domain, target.username)
    mailbox.recompute_usage()
    return user_usage(services.mail, services.drives, target.domain, target.username).total_bytes


@routes.post("/users/{user}/quota/reset")
async def reset_quota(request: web.Request) -> web.Response:
    """Recompute the account's storage use from the folder indexes and the drive on disk."""
    target = await resolve_user(request)  # users may recount their own: it only corrects
    used = await run(_reset_quota, core(request), target)
    return success({"storageUsed": used})
