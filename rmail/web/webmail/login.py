"""Entering and leaving: `/` and `/webmail/` redirects, the login form, logout.

A login makes a new session (a new random id, whatever the browser had before: no session
fixation) and sets `rmail_session` (HttpOnly, SameSite=Lax, Path=/, Secure over HTTPS). Wrong
credentials re-render the form with 401 and a `.form-error`; a locked-out address gets 429 with
`Retry-After` from the shared lockout (`rmail.web.auth`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from rmail.auth import AuthError, LoginInfo, Principal
from rmail.web.auth import (
    SESSION_COOKIE,
    SecondFactorRequired,
    locked_error,
    password_login,
    sessions_changed,
)
from rmail.web.errors import HttpError
from rmail.web.webmail.context import Page, session_cookie, view
from rmail.web.webmail.urls import folder_path

__all__ = ["routes"]

routes = web.RouteTableDef()
INBOX_PATH = folder_path("INBOX")
MAX_LOGIN = 320
MAX_PASSWORD = 4096


def safe_next(value: object) -> str | None:
    """A `next` target only if it is a path of the webmail itself (never another site)."""
    if not isinstance(value, str) or len(value) > 2000:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/webmail/") or "\\" in value \
            or value.startswith("/webmail/login") or value.startswith("/webmail/logout"):
        return None
    return value


@routes.get("/")
async def root(request: web.Request) -> web.StreamResponse:
    return await _to_webmail(request)


@routes.get("/webmail")
async def webmail_bare(request: web.Request) -> web.StreamResponse:
    return await _to_webmail(request)


@view(session=False)
async def _to_webmail(page: Page) -> web.StreamResponse:
    raise page.redirect("/webmail/")


@routes.get("/webmail/")
@view(session=False)
async def webmail_home(page: Page) -> web.StreamResponse:
    raise page.redirect(INBOX_PATH if page.principal else "/webmail/login")


@routes.get("/webmail/login")
@view(session=False)
async def login_form(page: Page) -> web.StreamResponse:
    target = safe_next(page.request.query.get("next"))
    if page.principal is not None:
        raise page.redirect(target or INBOX_PATH)
    return await page.render("login.html", title="Log in", next=target or "", username="",
                             error=None)


@routes.post("/webmail/login")
@view(session=False)
async def login(page: Page) -> web.StreamResponse:
    """Step one: address and password. With two-factor on, step two (the same URL, with the
    signed `pending` proof of step one instead of the password) takes the code."""
    form = page.form
    username = str(form.get("username", "")).strip()[:MAX_LOGIN]
    password = str(form.get("password", ""))[:MAX_PASSWORD]
    target = safe_next(form.get("next"))
    if form.get("pending"):
        return await _second_step(page, target)
    if not username or not password:
        return await page.render("login.html", status=400, title="Log in", next=target or "",
                                 username=username, error="Enter your address and password.")
    try:
        principal = await password_login(page.request, username, password, protocol="webmail")
    except SecondFactorRequired as exc:
        pending = page.services.auth.pending_login(exc.principal)
        return await page.render("login.html", title="Two-factor code", next=target or "",
                                 username=username, error=None, pending=pending)
    except HttpError as exc:
        if exc.status == 429:
            error = "Too many failed logins from your address; try again later."
        else:
            error = "Wrong address or password."
        response = await page.render("login.html", status=exc.status, title="Log in",
                                     next=target or "", username=username, error=error)
        if "Retry-After" in exc.headers:
            response.headers["Retry-After"] = exc.headers["Retry-After"]
        return response
    return await _start_session(page, principal, target)


async def _second_step(page: Page, target: str | None) -> web.StreamResponse:
    pending = str(page.form.get("pending", ""))[:1000]
    token = str(page.form.get("token", "")).strip()[:64]
    username = str(page.form.get("username", "")).strip()[:MAX_LOGIN]
    info = LoginInfo("webmail", page.request.headers.get("User-Agent", "")[:200])
    try:
        principal = await page.run(page.services.auth.complete_login_sync, pending, token,
                                   ip=page.request.remote, info=info)
    except AuthError as exc:
        if exc.reason == "locked":
            error = locked_error(page.services, page.request.remote)
            response = await page.render("login.html", status=429, title="Log in",
                                         next=target or "", username=username,
                                         error="Too many failed logins from your address; "
                                               "try again later.")
            response.headers["Retry-After"] = error.headers["Retry-After"]
            return response
        if exc.reason == "token":  # the same proof of the password, another try at the code
            return await page.render("login.html", status=401, title="Two-factor code",
                                     next=target or "", username=username, pending=pending,
                                     error="Wrong or already used code.")
        return await page.render("login.html", status=401, title="Log in", next=target or "",
                                 username=username, error="The login expired; start again.")
    return await _start_session(page, principal, target)


async def _start_session(page: Page, principal: Principal,
                         target: str | None) -> web.StreamResponse:
    sessions = page.services.sessions
    old = page.request.cookies.get(SESSION_COOKIE)
    account = principal.account
    session_id, _ = await page.run(sessions.create, account.domain, account.username,
                                   account.auth_epoch)
    if old:
        await page.run(sessions.end, old)
    await page.run(sessions.sweep)
    response = page.redirect(target or INBOX_PATH)
    session_cookie(response, page.request, session_id, sessions.max_age_seconds)
    raise response


@routes.post("/webmail/logout")
@view()
async def logout(page: Page) -> web.StreamResponse:
    session_id = page.request.cookies.get(SESSION_COOKIE, "")
    await page.run(page.services.sessions.end, session_id)
    sessions_changed(page.services, page.user.domain, page.user.username)  # streams end now
    response = page.redirect("/webmail/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response
