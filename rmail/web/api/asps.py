"""Application passwords: `GET|POST /users/{user}/asps`, `DELETE /users/{user}/asps/{id}`.

The caller must have logged in with the account's own password (or a token or session made
from it), never with an application password; an admin may manage them for accounts in their
scope. The password is returned once, by `POST`. Each change lands in the auth log.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from rmail.auth import apppasswords
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
    usage = await run(request, services.auth.security.asp_usage, target.domain, target.username)
    records = apppasswords.records(target.account.app_passwords)
    return success({"results": [asp_document(r, usage) for r in records]})


@routes.post("/users/{user}/asps")
async def create_asp(request: web.Request) -> web.Response:
    """`description`, `scopes` (imap pop3 smtp caldav dav api, or *): the new password is in
    the answer and nowhere else."""
    target = await resolve_user(request)
    require_master(target)
    body = await read_json(request, allowed=("description", "scopes"))
    description = get_str(body, "description", required=True, max_length=1000)
    scopes = get_str_list(body, "scopes", required=True, max_items=20, max_length=20)
    services = core(request)
    password, record = await services.run_password(apppasswords.create, services.accounts,
                                                   target.domain, target.username, description,
                                                   scopes)
    await run(request, log_change, request, target, "create asp", record.id)
    return success({**record.public(), "password": password})


@routes.delete("/users/{user}/asps/{id}")
async def delete_asp(request: web.Request) -> web.Response:
    """Revoked at once in every worker (see `apppasswords.delete`)."""
    target = await resolve_user(request)
    require_master(target)
    asp_id = request.match_info["id"]
    if not _ID_RE.fullmatch(asp_id):
        raise ApiError(404, "No such application password")
    services = core(request)
    await run(request, apppasswords.delete, services.accounts, services.auth.security,
              target.domain,
              target.username, asp_id)
    await run(request, log_change, request, target, "delete asp", asp_id)
    return success()
