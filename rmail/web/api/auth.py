"""`POST /auth/login`: credentials in, a JWT out (reference manual, "Authentication")."""

from __future__ import annotations

from aiohttp import web

from rmail.auth.tokens import issue_token
from rmail.web.api.base import core, get_str, json_response, read_json
from rmail.web.auth import SecondFactorRequired, password_login

routes = web.RouteTableDef()

LOGIN_FIELDS = ("username", "password", "domain", "token")


@routes.post("/auth/login")
async def login(request: web.Request) -> web.Response:
    """`username` is a bare name (domain from `domain`, else the first configured domain) or
    any of the user's addresses. Failures count toward the per-IP lockout (429 once locked).
    Only the account's own password opens it (never an application password); with
    two-factor on, `token` (a TOTP or recovery code) too: without it the answer is 401 with
    `"require2fa": ["totp"]`."""
    body = await read_json(request, allowed=LOGIN_FIELDS)
    username = get_str(body, "username", required=True, max_length=320)
    password = get_str(body, "password", required=True, max_length=4096)
    domain = get_str(body, "domain", max_length=253)
    token = get_str(body, "token", max_length=64)
    assert username is not None and password is not None
    services = core(request)
    try:
        principal = await password_login(request, username, password, domain=domain or None,
                                         token=token, protocol="login")
    except SecondFactorRequired as exc:
        return json_response({"error": exc.message, "require2fa": ["totp"]}, status=401)
    settings = services.config.exchange_api
    account = principal.account
    token = issue_token(settings.secret, account.username, account.domain, admin=account.admin,
                        epoch=account.auth_epoch, ttl=settings.token_ttl)
    return json_response({"token": token, "username": account.username,
                          "domain": account.domain, "expires_in": settings.token_ttl})
