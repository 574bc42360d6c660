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
from rmail.web.api.base import core, get_str, read_json, run
from rmail.web.api.users import UserTarget, log_change, require_master, resolve_user, success
from rmail.web.auth import locked_error
from rmail.web.errors import ApiError

routes = web.RouteTableDef()

TOKEN_MAX = 64


async def check_code(request: web.Request, target: UserTarget, token: str | None, *,
                     pending: bool = False) -> str:
    """"totp" or "recovery" for a good code; 403 otherwise (counted toward the lockout of
    the caller's IP and noted in the account's auth log)."""
    services = core(request)
    if services.lockout.is_locked(request.remote):
        raise locked_error(services, request.remote)
    if not token:
        raise ApiError(400, "Missing field: token")
    kind = await run(request, services.auth.totp.check, target.account, token, pending=pending)
    if kind is None:
        await _wrong_code(request, target)
        raise ApiError(403, "Invalid or already used code")
    return kind


@routes.post("/users/{user}/2fa")
async def enrol(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    require_master(target)
    services = core(request)
    uri, qr, seed = await run(request, totp.start, services.auth.totp, services.accounts,
                              target.account, services.config.hostname or "rmail")
    return success({"uri": uri, "qrcode": qr, "seed": seed})


@routes.put("/users/{user}/2fa")
async def activate(request: web.Request) -> web.Response:
    return await _recovery_codes(request, totp.activate, "enable 2fa")


@routes.delete("/users/{user}/2fa")
async def disable(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    require_master(target)
    services = core(request)
    if target.is_self or not target.principal.manages(target.domain):
        body = await read_json(request, allowed=("password", "token"))
        password = get_str(body, "password", required=True, max_length=4096) or ""
        token = get_str(body, "token", required=True, max_length=TOKEN_MAX)
        if not await services.run_password(services.auth.verify_master, target.account, password,
                         ip=request.remote):
            raise ApiError(403, "password is not the current password")
        if totp.enabled(target.account):
            await check_code(request, target, token)
    elif request.can_read_body:
        await read_json(request, allowed=("password", "token"))
    await run(request, totp.disable, services.accounts, target.account)
    await run(request, log_change, request, target, "disable 2fa", "")
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
    return await _recovery_codes(request, totp.regenerate, "new recovery codes")


async def _recovery_codes(request: web.Request, fn: Any, action: str) -> web.Response:
    """`fn` (activate, regenerate) proven by the body's current `token`; answers the fresh
    recovery codes and logs `action`."""
    target = await resolve_user(request)
    require_master(target)
    body = await read_json(request, allowed=("token",))
    token = get_str(body, "token", required=True, max_length=TOKEN_MAX) or ""
    services = core(request)
    codes = await _with_code(request, target, fn, services.auth.totp, services.accounts,
                             target.account, token)
    await run(request, log_change, request, target, action, "")
    return success({"recoveryCodes": codes})


async def _with_code(request: web.Request, target: UserTarget, fn: Any, *args: Any) -> Any:
    """`fn(*args)` in a thread; a wrong code counts toward the lockout (403)."""
    services = core(request)
    if services.lockout.is_locked(request.remote):
        raise locked_error(services, request.remote)
    try:
        return await run(request, fn, *args)
    except totp.WrongCode:
        await _wrong_code(request, target)
        raise ApiError(403, "Invalid or already used code") from None


async def _wrong_code(request: web.Request, target: UserTarget) -> None:
    services = core(request)
    services.lockout.failure(request.remote)
    await run(request, services.auth.log_event, target.account, "authentication", "fail",
              ip=request.remote, scope="2fa", reason="wrong two-factor code")
