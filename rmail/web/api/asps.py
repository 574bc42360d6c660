"""Application passwords: `GET|POST /users/{user}/asps`, `DELETE /users/{user}/asps/{id}`.

The caller must have logged in with the account's own password (or a token or session made
from it), never with an application password; an admin may manage them for accounts in their
scope. The password is returned once, by `POST`. Each change lands in the auth log.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from aiohttp import web

from rmail.auth import apppasswords, hash_password
from rmail.store.accounts import Account
from rmail.store.errors import InvalidValue
from rmail.web.api.base import core, get_str, get_str_list, read_json, run
from rmail.web.api.users import log_change, require_master, resolve_user, success
from rmail.web.errors import ApiError

routes = web.RouteTableDef()

_ID_RE = re.compile(r"[0-9a-f]{24}")


def asp_document(record: apppasswords.AppPassword, usage: dict[str, Any]) -> dict[str, Any]:
    used = usage.get(record.id) or {}
    return {**record.public(), "last_used": used.get("last_used"),
            "last_ip": used.get("last_ip")}


@routes.get("/users/{user}/asps")
async def list_asps(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    require_master(target)
    services = core(request)
    usage = await run(services.auth.security.asp_usage, target.domain, target.username)
    records = apppasswords.records(target.account.app_passwords)
    return success({"results": [asp_document(r, usage) for r in records]})


@routes.post("/users/{user}/asps")
async def create_asp(request: web.Request) -> web.Response:
    """`description`, `scopes` (imap pop3 smtp caldav dav api, or *): the new password is in
    the answer and nowhere else."""
    target = await resolve_user(request)
    require_master(target)
    body = await read_json(request, allowed=("description", "scopes"))
    try:
        description = apppasswords.check_description(
            get_str(body, "description", required=True, max_length=1000))
        scopes = apppasswords.check_scopes(get_str_list(body, "scopes", required=True,
                                                        max_items=20, max_length=20))
    except InvalidValue as exc:
        raise ApiError(400, str(exc)) from None
    password = apppasswords.generate()
    record = apppasswords.AppPassword(
        secrets.token_hex(12), description, scopes, await run(hash_password, password),
        apppasswords.hint(password), dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def add(account: Account) -> dict[str, Any]:
        if len(account.app_passwords) >= apppasswords.MAX_PER_ACCOUNT:
            raise ApiError(400, f"At most {apppasswords.MAX_PER_ACCOUNT} application passwords")
        return {"app_passwords": (*account.app_passwords, record.to_doc())}

    services = core(request)
    await run(services.accounts.modify, target.domain, target.username, add)
    await run(log_change, request, target, "create asp", record.id)
    return success({**record.public(), "password": password})


@routes.delete("/users/{user}/asps/{id}")
async def delete_asp(request: web.Request) -> web.Response:
    """Revoked at once in every worker: the account file changes, which every process's
    caches (verified passwords included) check before answering."""
    target = await resolve_user(request)
    require_master(target)
    asp_id = request.match_info["id"]
    if not _ID_RE.fullmatch(asp_id):
        raise ApiError(404, "No such application password")

    def remove(account: Account) -> dict[str, Any]:
        kept = tuple(d for d in account.app_passwords if d.get("id") != asp_id)
        if len(kept) == len(account.app_passwords):
            raise ApiError(404, "No such application password")
        return {"app_passwords": kept}

    services = core(request)
    await run(services.accounts.modify, target.domain, target.username, remove)
    await run(services.auth.security.forget_asp, target.domain, target.username, asp_id)
    await run(log_change, request, target, "delete asp", asp_id)
    return success()
