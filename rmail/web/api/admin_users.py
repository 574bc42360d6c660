"""User management for admins (reference manual, "Admin — User Management").

Every route needs an admin of the domain: a global admin (`admin: true`, any domain) or a
domain admin (`admin_domains`, those domains only; 403 elsewhere); `domain` (query parameter,
or body field on create) defaults to the admin's own domain (a domain admin's first managed
one when they do not manage their own). Users are created only in existing domains (404
otherwise): domains come from `rmail domain add`, `config.json`, `POST /admin/domains` or the
provisioning interfaces. Only global admins grant `admin` or `admin_domains`. An admin cannot
disable, demote or delete themselves (409), so a domain never loses its last admin by
accident.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rmail.auth import Principal, hash_password
from rmail.store.accounts import check_password, check_quota, check_username
from rmail.web.api.base import (
    core,
    get_bool,
    get_int,
    get_str,
    get_str_list,
    json_response,
    managed_domain,
    read_json,
    require_domain_admin,
    run,
)
from rmail.web.auth import sessions_changed
from rmail.web.errors import ApiError

routes = web.RouteTableDef()

CREATE_FIELDS = ("username", "password", "domain", "admin", "quota_mb", "display_name")
PATCH_FIELDS = ("enabled", "admin", "quota_mb", "display_name", "submission_enabled",
                "pop3_enabled", "addresses", "sender_whitelist", "admin_domains")
GLOBAL_ONLY = ("admin", "admin_domains")  # who is an admin is for global admins to say


def _target(request: web.Request, principal: Principal) -> tuple[str, str]:
    domain = managed_domain(principal, request.query.get("domain"))
    return domain, check_username(request.match_info["username"])


def _is_self(principal: Principal, domain: str, username: str) -> bool:
    return (principal.domain, principal.username) == (domain, username)


@routes.get("/admin/users")
async def list_users(request: web.Request) -> web.Response:
    principal = await require_domain_admin(request)
    domain = managed_domain(principal, request.query.get("domain"))
    users = await run(request, core(request).accounts.users, domain)
    return json_response({"users": [u.public() for u in users]})


@routes.post("/admin/users")
async def create_user(request: web.Request) -> web.Response:
    principal = await require_domain_admin(request)
    body = await read_json(request, allowed=CREATE_FIELDS)
    username = check_username(get_str(body, "username", required=True, max_length=64))
    password = check_password(get_str(body, "password", required=True, max_length=4096))
    domain = managed_domain(principal, get_str(body, "domain", max_length=253))
    services = core(request)
    quota = check_quota(get_int(body, "quota_mb", default=services.config.quota_mb_default))
    admin = bool(get_bool(body, "admin", default=False))
    if admin and not principal.admin:
        raise ApiError(403, "Only a global admin may create admins")
    display_name = get_str(body, "display_name", default="", max_length=200) or ""
    await run(request, services.accounts.domain, domain)  # 404: /admin/users never creates a domain
    password_hash = await core(request).run_password(hash_password, password)
    account = await run(request, services.accounts.create, domain, username, password_hash,
                        admin=admin, quota_mb=quota, display_name=display_name)
    return json_response(account.public(), status=201)


@routes.get("/admin/users/{username}")
async def get_user(request: web.Request) -> web.Response:
    principal = await require_domain_admin(request)
    domain, username = _target(request, principal)
    account = await run(request, core(request).accounts.get, domain, username)
    return json_response(account.public())


@routes.patch("/admin/users/{username}")
async def update_user(request: web.Request) -> web.Response:
    """Only the given fields change."""
    principal = await require_domain_admin(request)
    domain, username = _target(request, principal)
    body = await read_json(request, allowed=PATCH_FIELDS)
    changes: dict[str, Any] = {}
    for name in ("enabled", "admin", "submission_enabled", "pop3_enabled"):
        value = get_bool(body, name)
        if value is not None:
            changes[name] = value
    quota = get_int(body, "quota_mb")
    if quota is not None:
        changes["quota_mb"] = check_quota(quota)
    display_name = get_str(body, "display_name", max_length=200)
    if display_name is not None:
        changes["display_name"] = display_name
    for name in ("addresses", "sender_whitelist", "admin_domains"):
        if name in body:
            changes[name] = tuple(get_str_list(body, name, max_items=100, max_length=320))
    if not principal.admin and any(name in changes for name in GLOBAL_ONLY):
        raise ApiError(403, "Only a global admin may grant admin rights")
    accounts_store = core(request).accounts
    for name in changes.get("admin_domains", ()):
        await run(request, accounts_store.domain, name)  # 404 for a domain rmail does not host
    if _is_self(principal, domain, username) and (
        changes.get("enabled") is False or changes.get("admin") is False
    ):
        raise ApiError(409, "You cannot disable or demote your own account")
    accounts = core(request).accounts
    if changes:
        account = await run(request, accounts.update, domain, username, **changes)
    else:
        account = await run(request, accounts.get, domain, username)
    if changes.get("enabled") is False:
        sessions_changed(core(request), domain, username)  # its update streams end now
    return json_response(account.public())


@routes.delete("/admin/users/{username}")
async def delete_user(request: web.Request) -> web.Response:
    """Deletes the account and everything it owns (mail, calendars, drive)."""
    principal = await require_domain_admin(request)
    domain, username = _target(request, principal)
    if _is_self(principal, domain, username):
        raise ApiError(409, "You cannot delete your own account")
    services = core(request)
    await run(request, services.accounts.delete, domain, username)
    services.mail.forget(domain, username)
    sessions_changed(services, domain, username)  # its update streams end now
    return json_response({"username": username, "domain": domain, "deleted": True})


@routes.put("/admin/users/{username}/password")
async def set_password(request: web.Request) -> web.Response:
    """A new password; the user's existing tokens stop working."""
    principal = await require_domain_admin(request)
    domain, username = _target(request, principal)
    body = await read_json(request, allowed=("password",))
    password = check_password(get_str(body, "password", required=True, max_length=4096))
    accounts = core(request).accounts
    await run(request, accounts.get, domain, username)  # 404 before spending a hash
    password_hash = await core(request).run_password(hash_password, password)
    await run(request, accounts.update, domain, username, password_hash=password_hash)
    sessions_changed(core(request), domain, username)
    return json_response({"username": username, "domain": domain, "password_changed": True})
