"""`POST /authenticate`: check a user's credentials for another system (WildDuck's route).

For global admins and provisioning API keys only (`require_controller`), never ordinary users:
it would let anyone test passwords without the lockout of their own IP. The body names the
user (`username`: a bare name in the default domain or any of the user's addresses), the
`password`, the `scope` the login is for (`master` or an application-password scope), the
`protocol` and the end user's `ip` (the lockout and the auth log use it). With two-factor on,
a master-scope check of the right password answers `require2fa: ["totp"]`: the caller then asks
for a code (`GET /users/{user}/2fa?token=`).
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from rmail.auth import MASTER, AuthError, LoginInfo, apppasswords, totp
from rmail.web.api.base import core, get_str, read_json
from rmail.web.api.provisioning import require_controller
from rmail.web.api.users import success
from rmail.web.errors import ApiError

routes = web.RouteTableDef()

SCOPES = (MASTER, *apppasswords.SCOPES)
FIELDS = ("username", "password", "scope", "protocol", "ip", "sess", "userAgent")


@routes.post("/authenticate")
async def authenticate(request: web.Request) -> web.Response:
    await require_controller(request)
    body = await read_json(request, allowed=FIELDS)
    username = get_str(body, "username", required=True, max_length=320) or ""
    password = get_str(body, "password", required=True, max_length=4096) or ""
    scope = get_str(body, "scope", default=MASTER, max_length=20) or MASTER
    if scope not in SCOPES:
        raise ApiError(400, f"Field scope must be one of: {', '.join(SCOPES)}")
    protocol = get_str(body, "protocol", default="", max_length=50) or "authenticate"
    agent = get_str(body, "userAgent", default="", max_length=200) or ""
    get_str(body, "sess", max_length=200)
    ip = get_str(body, "ip", max_length=45)
    if ip:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise ApiError(400, "Field ip must be an IP address") from None
    if not username.strip():
        raise ApiError(400, "Field username must not be empty")
    services = core(request)
    try:
        principal = await services.run_password(services.auth.authenticate_sync, username, password,
                              ip=ip or None, scope=scope, second_factor=False,
                              info=LoginInfo(protocol, agent))
    except AuthError as exc:
        if exc.reason == "locked":
            raise ApiError(429, "Too many failed logins from this IP; try again later") \
                from None
        if exc.reason in ("2fa", "scope"):
            raise ApiError(403, str(exc).capitalize()) from None
        raise ApiError(403, "Authentication failed") from None
    account = principal.account
    require2fa = ["totp"] if scope == MASTER and totp.enabled(account) else False
    return success({"id": account.address, "username": account.username,
                    "address": account.address, "scope": scope,
                    "require2fa": require2fa, "asp": principal.asp or None})
