"""`/webmail/register`: self-service sign-up when `webmail.registration.enabled` (else 404
and no link anywhere).

The account is made as `rmail user add` makes it (`Accounts.create`: default quota and
folders), the new user is logged in, and the sign-up counts toward a per-address limit kept
on disk (`webmail.registration.per_ip_per_hour`, across workers). Taken names, reserved names
(postmaster, abuse, admin, ...), short passwords and common ones are refused with a message on
the form; what the user typed (but the password) is kept.
"""

from __future__ import annotations

from aiohttp import web

from rmail.auth import hash_password
from rmail.auth.policy import check_new_password
from rmail.store.accounts import check_username
from rmail.store.errors import AlreadyExists, InvalidValue
from rmail.web.errors import HttpError
from rmail.web.webmail.context import Page, session_cookie, view
from rmail.web.webmail.urls import folder_path

__all__ = ["routes"]

routes = web.RouteTableDef()


def _settings(page: Page):  # type: ignore[no-untyped-def]
    reg = page.config.webmail.registration
    if not reg.enabled:
        raise HttpError(404, "Not found")
    return reg


async def _form(page: Page, *, status: int = 200, error: str | None = None,
                username: str = "", domain: str = "") -> web.Response:
    reg = _settings(page)
    return await page.render("register.html", status=status, title="Create an account",
                             error=error, username=username, domain=domain,
                             domains=list(reg.domains),
                             min_length=reg.min_password_length)


@routes.get("/webmail/register")
@view(session=False)
async def register_form(page: Page) -> web.StreamResponse:
    _settings(page)
    if page.principal is not None:
        raise page.redirect(folder_path("INBOX"))
    return await _form(page)


@routes.post("/webmail/register")
@view(session=False)
async def register(page: Page) -> web.StreamResponse:
    reg = _settings(page)
    form = page.form
    username = str(form.get("username", "")).strip().lower()[:64]
    domain = str(form.get("domain", "")).strip().lower()[:253]
    password = str(form.get("password", ""))[:2048]
    confirm = str(form.get("password_confirm", ""))[:2048]

    async def refuse(message: str, status: int = 400) -> web.Response:
        return await _form(page, status=status, error=message, username=username,
                           domain=domain)

    accounts = page.services.accounts
    if domain not in reg.domains or not await page.run(accounts.has_domain, domain):
        return await refuse("Choose one of the offered domains.")
    try:
        username = check_username(username)
    except InvalidValue:
        return await refuse("Use letters, digits, dots, dashes or underscores for the name.")
    if username in {n.lower() for n in reg.reserved_names}:
        return await refuse(f"The name {username} is reserved; choose another.")
    if password != confirm:
        return await refuse("The passwords do not match.")
    try:
        check_new_password(password, min_length=reg.min_password_length, username=username,
                           domain=domain)
    except InvalidValue as exc:
        return await refuse(str(exc))
    if await page.run(accounts.find_address, f"{username}@{domain}") is not None:
        return await refuse(f"{username}@{domain} is taken; choose another name.", 409)
    sessions = page.services.sessions
    allowed = await page.run(sessions.claim_signup, page.request.remote or "",
                             reg.per_ip_per_hour)
    if not allowed:
        response = await refuse("Too many accounts were created from your address; try "
                                "again in an hour.", 429)
        response.headers["Retry-After"] = "3600"
        return response
    hashed = await page.services.run_password(hash_password, password)
    try:
        account = await page.run(accounts.create, domain, username, hashed,
                                 quota_mb=page.config.quota_mb_default)
    except AlreadyExists:
        return await refuse(f"{username}@{domain} is taken; choose another name.", 409)
    except InvalidValue as exc:
        return await refuse(str(exc))
    session_id, _ = await page.run(sessions.create, account.domain, account.username,
                                   account.auth_epoch)
    response = page.redirect(folder_path("INBOX"))
    session_cookie(response, page.request, session_id, sessions.max_age_seconds)
    raise response
