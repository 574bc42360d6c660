"""Two-factor (TOTP) over the API: `/users/{user}/2fa` and its recovery codes.

- `POST` starts an enrolment: a new secret (not active yet), its `otpauth://` URI, the same as
  a QR code (PNG data URL) and the base32 `seed` for typing in by hand;
- `PUT {"token"}` activates it with a current code and answers the ten `recoveryCodes` (shown
  this once);
- `DELETE` turns it off: users give their `password` and a current `token` (or a recovery
  code); an admin of the account's domain needs neither (logged as theirs);
- `GET ?token=` checks a code (consuming it, as a login would);
- `POST /users/{user}/2fa/recovery {"token"}` replaces the recovery codes.

Changes need a login with the account's own password (never an application password).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rmail.auth import totp
from rmail.store.accounts import Account
from rmail.web.api.base import core, get_str, read_json, run
from rmail.web.api.users import UserTarget, log_change, require_master, resolve_user, success
from rmail.web.errors import ApiError

routes = web.RouteTableDef()

TOKEN_MAX = 64


async def check_code(request: web.Request, target: UserTarget, token: str | None, *,
                     pending: bool = False) -> str:
    """"totp" or "recovery" for a good code; 403 otherwise (counted toward the lockout of
    the caller's IP and noted in the account's auth log)."""
    services = core(request)
    if services.lockout.is_locked(request.remote):
        from rmail.web.auth import locked_error

        raise locked_error(services, request.remote)
    if not token:
        raise ApiError(400, "Missing field: token")
    kind = await run(services.auth.totp.check, target.account, token, pending=pending)
    if kind is None:
        services.lockout.failure(request.remote)
        await run(services.auth.log_event, target.account, "authentication", "fail",
                  ip=request.remote, scope="2fa", reason="wrong two-factor code")
        raise ApiError(403, "Invalid or already used code")
    return kind


@routes.post("/users/{user}/2fa")
async def enrol(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    require_master(target)
    if totp.enabled(target.account):
        raise ApiError(409, "Two-factor authentication is already on; turn it off first")
    services = core(request)
    doc, uri, qr = await run(services.auth.totp.new_enrolment, target.account,
                             services.config.hostname or "rmail")

    def store(account: Account) -> dict[str, Any]:
        if totp.enabled(account):
            raise ApiError(409, "Two-factor authentication is already on; turn it off first")
        return {"totp": doc}

    account = await run(services.accounts.modify, target.domain, target.username, store)
    await run(services.auth.security.reset_totp, target.domain, target.username)
    seed = await run(services.auth.totp.decrypt, account, doc["secret"])
    return success({"uri": uri, "qrcode": qr, "seed": seed})


@routes.put("/users/{user}/2fa")
async def activate(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    require_master(target)
    body = await read_json(request, allowed=("token",))
    token = get_str(body, "token", required=True, max_length=TOKEN_MAX)
    if totp.enabled(target.account):
        raise ApiError(409, "Two-factor authentication is already on")
    if not (target.account.totp or {}).get("secret"):
        raise ApiError(409, "Start with POST /users/{user}/2fa")
    await check_code(request, target, token, pending=True)
    services = core(request)
    codes, digests = services.auth.totp.new_recovery_codes()
    secret = (target.account.totp or {})["secret"]

    def enable(account: Account) -> dict[str, Any]:
        current = account.totp or {}
        if current.get("secret") != secret or current.get("enabled"):
            raise ApiError(409, "Two-factor enrolment changed meanwhile; start again")
        return {"totp": {**current, "enabled": True, "recovery": digests}}

    await run(services.accounts.modify, target.domain, target.username, enable)
    await run(log_change, request, target, "enable 2fa", "")
    return success({"recoveryCodes": codes})


@routes.delete("/users/{user}/2fa")
async def disable(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    require_master(target)
    services = core(request)
    if target.is_self or not target.principal.manages(target.domain):
        body = await read_json(request, allowed=("password", "token"))
        password = get_str(body, "password", required=True, max_length=4096) or ""
        token = get_str(body, "token", required=True, max_length=TOKEN_MAX)
        if not await run(services.auth.verify_master, target.account, password,
                         ip=request.remote):
            raise ApiError(403, "password is not the current password")
        if totp.enabled(target.account):
            await check_code(request, target, token)
    elif request.can_read_body:
        await read_json(request, allowed=("password", "token"))
    if not target.account.totp:
        raise ApiError(409, "Two-factor authentication is not on")
    await run(services.accounts.modify, target.domain, target.username,
              lambda account: {"totp": None})
    await run(log_change, request, target, "disable 2fa", "")
    return success()


@routes.get("/users/{user}/2fa")
async def check(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    if not totp.enabled(target.account):
        raise ApiError(409, "Two-factor authentication is not on")
    token = request.query.get("token", "")
    if len(token) > TOKEN_MAX:
        raise ApiError(400, f"Parameter token is longer than {TOKEN_MAX} characters")
    kind = await check_code(request, target, token)
    return success({"kind": kind})


@routes.post("/users/{user}/2fa/recovery")
async def regenerate(request: web.Request) -> web.Response:
    """New recovery codes (the old ones stop working), with a current code as proof."""
    target = await resolve_user(request)
    require_master(target)
    body = await read_json(request, allowed=("token",))
    token = get_str(body, "token", required=True, max_length=TOKEN_MAX)
    if not totp.enabled(target.account):
        raise ApiError(409, "Two-factor authentication is not on")
    await check_code(request, target, token)
    services = core(request)
    codes, digests = services.auth.totp.new_recovery_codes()

    def store(account: Account) -> dict[str, Any]:
        if not totp.enabled(account):
            raise ApiError(409, "Two-factor authentication is not on")
        return {"totp": {**(account.totp or {}), "recovery": digests}}

    await run(services.accounts.modify, target.domain, target.username, store)
    await run(log_change, request, target, "enable 2fa", "")
    return success({"recoveryCodes": codes})
