"""`/users/{user}/filters[/{filter}]`: the filters delivery applies (`rmail.mail.filters`),
plus `dry-run` (which of the account's newest messages one would match) and `apply` (run it
over mail already stored, in every folder), and `POST /users/{user}/quota/reset`.

Every write goes through `rmail.store.mailrules` (locked, durable): a 2xx means every
worker's next delivery uses it. Values are checked before anything is written: an unknown
mailbox id, a forward target that is the user's own address or that forwards back to the
user, or a malformed query is a 400 naming the field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
from collections.abc import Callable, Iterator
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
from rmail.store.journal import MessageRecord
from rmail.store.mailbox import Folder, UserMailbox
from rmail.store.usage import user_usage
from rmail.web.api.base import core, query_bool, query_int, read_json, run
from rmail.web.api.users import UserTarget, resolve_user, success
from rmail.web.errors import ApiError

__all__ = ["DRY_RUN_DEFAULT", "DRY_RUN_MAX", "check_target", "routes"]

routes = web.RouteTableDef()

DRY_RUN_DEFAULT = 50
DRY_RUN_MAX = 1000
APPLY_DEFAULT = 1000
APPLY_MAX = 10_000


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
    rules = await run(request, core(request).delivery.rules.store.get, target.domain,
                      target.username)
    return success({"results": [f.to_doc() for f in rules.filters]})


@routes.post("/users/{user}/filters")
async def create_filter(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    body = await read_json(request, allowed=[k for k in FILTER_KEYS if k not in ("id",
                                                                                  "created")])
    services = core(request)
    built = await run(request, _build, services, target, body, "0" * 24, _now())  # id given below
    made = await run(request, services.delivery.rules.store.add_filter, target.domain,
                     target.username,
                     lambda fid: dataclasses.replace(built, id=fid))
    return success({"id": made.id, "filter": made.to_doc()}, status=201)


@routes.get("/users/{user}/filters/{filter}")
async def get_filter(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    filter_id = _filter_id(request)
    f = await run(request, _find, core(request), target, filter_id)
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

    new = await run(request, services.delivery.rules.store.replace_filter, target.domain,
                    target.username, filter_id, edit)
    return success({"id": new.id, "filter": new.to_doc()})


@routes.delete("/users/{user}/filters/{filter}")
async def delete_filter(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    filter_id = _filter_id(request)
    await run(request, core(request).delivery.rules.store.delete_filter, target.domain,
              target.username,
              filter_id)
    return success()


# -- dry run and apply ---------------------------------------------------------------------------
# Which folders a dry run or an apply looks at: every folder of the account but Trash and Junk
# (WildDuck's rule for account-wide work, as `/users/{user}/search`). A filter's query has no
# folder criterion, so no filter "targets" those two by itself: the caller opts in with
# `includeTrash=true`, or names one folder with `mailbox=`.
EXCLUDED_USES = ("\\Trash", "\\Junk")


def _folder_names(request: web.Request, services: Services, target: UserTarget,
                  include_trash: bool) -> list[str]:
    """The folders to look at: `mailbox` (an id) alone, else every selectable folder (Trash
    and Junk only with `includeTrash=true`)."""
    mailbox_id = request.query.get("mailbox")
    if mailbox_id:
        try:
            return [folder_for_id(services.mail, target.domain, target.username, mailbox_id)]
        except NotFound:
            raise ApiError(404, f"No mailbox with id {mailbox_id}") from None
    mailbox = services.mail.mailbox(target.domain, target.username)
    return [e.name for e in mailbox.entries() if e.folder_id is not None
            and (include_trash or e.special_use not in EXCLUDED_USES)]


async def _over_messages(request: web.Request, fn: Callable[..., dict[str, Any]],
                         default: int, most: int) -> web.Response:
    """Run ``fn(services, target, filter, folder names, limit)`` for a dry run or an apply."""
    target = await resolve_user(request)
    filter_id = _filter_id(request)
    services = core(request)
    limit = query_int(request, "limit", default, 1, most)
    include_trash = query_bool(request, "includeTrash")
    f = await run(request, _find, services, target, filter_id)
    names = await run(request, _folder_names, request, services, target, include_trash)
    return success(await run(request, fn, services, target, f, names, limit))


@dataclasses.dataclass(frozen=True)
class _Hit:
    folder: Folder
    uid: int
    facts: MessageFacts


def _newest(mailbox: UserMailbox, names: list[str], limit: int
            ) -> list[tuple[Folder, MessageRecord]]:
    """The newest ``limit`` messages across the folders (by internal date, then UID): at most
    ``limit`` index rows per folder, never a message body."""
    def rows() -> Iterator[tuple[int, int, int, Folder, MessageRecord]]:
        for order, name in enumerate(names):
            try:
                folder = mailbox.folder(name)
            except NotFound:  # deleted meanwhile
                continue
            for rec in folder.records(0, limit, newest_first=True):
                yield rec.internaldate, rec.uid, -order, folder, rec

    return [(folder, rec) for *_, folder, rec in
            heapq.nlargest(limit, rows(), key=lambda row: row[:3])]


def _matches(mailbox: UserMailbox, names: list[str], f: Filter, limit: int
             ) -> tuple[int, list[_Hit]]:
    """(messages checked, those of the newest ``limit`` across ``names`` that ``f`` matches)."""
    newest = _newest(mailbox, names, limit)
    hits = []
    for folder, rec in newest:
        try:
            raw = folder.read_message(rec.uid)
        except NotFound:
            continue  # expunged meanwhile
        facts = MessageFacts(raw)
        if evaluate([f], facts).matched:
            hits.append(_Hit(folder, rec.uid, facts))
    return len(newest), hits


def _dry_run(services: Services, target: UserTarget, f: Filter, names: list[str], limit: int
             ) -> dict[str, Any]:
    mailbox = services.mail.mailbox(target.domain, target.username)
    checked, hits = _matches(mailbox, names, f, limit)
    results = [{"mailbox": hit.folder.mailbox_id(), "path": hit.folder.name, "uid": hit.uid,
                "from": hit.facts.header("from"), "subject": hit.facts.header("subject"),
                "size": hit.facts.size} for hit in hits]
    return {"checked": checked, "matched": len(results), "mailboxes": len(names),
            "results": results}


@routes.post("/users/{user}/filters/{filter}/dry-run")
async def dry_run(request: web.Request) -> web.Response:
    """Which of the account's newest ``limit`` messages (every folder but Trash and Junk,
    unless ``includeTrash=true``; one folder with ``mailbox``) the filter would match;
    changes nothing."""
    return await _over_messages(request, _dry_run, DRY_RUN_DEFAULT, DRY_RUN_MAX)


def _destination(services: Services, target: UserTarget, mailbox: UserMailbox, f: Filter
                 ) -> Folder | None:
    if "mailbox" in f.action:
        try:
            return mailbox.folder(folder_for_id(services.mail, target.domain, target.username,
                                                f.action["mailbox"]))
        except NotFound:
            raise InvalidValue("the filter's mailbox no longer exists") from None
    if f.action.get("spam"):
        return mailbox.folder_by_special_use("\\Junk")
    if f.action.get("delete"):
        return mailbox.folder_by_special_use("\\Trash")
    return None


def _apply(services: Services, target: UserTarget, f: Filter, names: list[str], limit: int
           ) -> dict[str, Any]:
    """Apply ``f`` to the account's newest ``limit`` messages: flags, then moves (`mailbox`,
    `spam`; `delete` moves to Trash, since mail already stored is never destroyed by a
    filter), folder by folder. Forward targets are not applied to old mail."""
    mailbox = services.mail.mailbox(target.domain, target.username)
    checked, hits = _matches(mailbox, names, f, limit)
    counts = {"checked": checked, "matched": len(hits), "flagged": 0, "moved": 0,
              "mailboxes": len(names)}
    flags = [flag for key, flag in (("seen", "\\Seen"), ("flag", "\\Flagged"))
             if f.action.get(key)]
    dest = _destination(services, target, mailbox, f)
    by_folder: dict[str, tuple[Folder, list[int]]] = {}
    for hit in hits:
        by_folder.setdefault(hit.folder.id, (hit.folder, []))[1].append(hit.uid)
    for folder, uids in by_folder.values():
        if flags:
            counts["flagged"] += len(folder.store_flags(uids, "add", flags).changed)
        if dest is not None and dest.id != folder.id:
            counts["moved"] += len(folder.move(uids, dest))
    return counts


@routes.post("/users/{user}/filters/{filter}/apply")
async def apply_filter(request: web.Request) -> web.Response:
    """Run the filter over the account's newest ``limit`` messages (the folders of a dry
    run) and return the counts."""
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
    used = await run(request, _reset_quota, core(request), target)
    return success({"storageUsed": used})
