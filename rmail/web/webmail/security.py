"""`/webmail/settings/security`: two-factor, application passwords, addresses and recent
activity, as forms over the same functions as the JSON API (`rmail.auth.totp`,
`rmail.auth.apppasswords`, `Accounts.modify`), so the rules and messages are the same.

    GET  /webmail/settings/security                    the page
    POST /webmail/settings/security/2fa/start          new secret: QR code, then a code form
    POST /webmail/settings/security/2fa/activate       code -> on; recovery codes shown once
    POST /webmail/settings/security/2fa/recovery       code -> new recovery codes shown once
    POST /webmail/settings/security/2fa/disable        password + code -> off
    POST /webmail/settings/security/asps               description + scopes -> shown once
    POST /webmail/settings/security/asps/{id}/delete   revoke
    POST /webmail/settings/security/addresses          add an address in your domain
    POST /webmail/settings/security/addresses/main     make one the main (sending) address
    POST /webmail/settings/security/addresses/delete   remove one

A webmail session always comes from a login with the account's own password (application
passwords never open the webmail), so every change here is allowed to its owner.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rmail.auth import LoginInfo, apppasswords, totp
from rmail.store.accounts import Account, normalize_address
from rmail.store.authlog import public_entry
from rmail.store.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from rmail.web.errors import HttpError
from rmail.web.webmail.context import Page, view

__all__ = ["routes"]

routes = web.RouteTableDef()
BASE = "/webmail/settings/security"
ACTIVITY = 50
_OK = {"asp-deleted": "Application password revoked.", "2fa-off": "Two-factor is off.",
       "address-added": "Address added.", "address-main": "Main address changed.",
       "address-deleted": "Address removed."}


def _field(page: Page, name: str, limit: int = 1000) -> str:
    value = page.form.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise HttpError(400, f"{name} is too long")
    return value.strip()


async def _render(page: Page, *, status: int = 200, error: str | None = None,
                  section: str = "", **extra: Any) -> web.Response:
    user = page.user
    services = page.services
    account = await page.run(services.accounts.get, user.domain, user.username)
    usage = await page.run(services.auth.security.asp_usage, user.domain, user.username)
    asps = [{**r.public(), "last_used": None, "last_ip": None, **(usage.get(r.id) or {})}
            for r in apppasswords.records(account.app_passwords)]
    entries = await page.run(services.auth.authlog.entries, user.domain, user.username)
    left = await page.run(services.auth.totp.recovery_left, account) \
        if totp.enabled(account) else 0
    context: dict[str, Any] = {
        "enabled": totp.enabled(account), "recovery_left": left, "asps": asps,
        "scopes": apppasswords.SCOPES, "addresses": list(account.addresses or
                                                         (account.address,)),
        "login_address": f"{account.username}@{account.domain}",
        "activity": [public_entry(e) for e in entries[:ACTIVITY]],
        "enrolment": None, "recovery_codes": None, "new_asp": None,
    }
    context.update(extra)
    return await page.render("security.html", status=status, title="Security",
                             area="settings", error=error, section=section,
                             ok=_OK.get(page.request.query.get("ok", "")), **context)


def _log(page: Page, account: Account, action: str, asp: str = "") -> None:
    page.services.auth.log_event(account, action, "success", ip=page.request.remote,
                                 info=LoginInfo("webmail", page.request.headers.get(
                                     "User-Agent", "")[:200]), asp=asp)


@routes.get(BASE)
@view()
async def security(page: Page) -> web.StreamResponse:
    return await _render(page)


# -- two-factor ---------------------------------------------------------------------------------
@routes.post(BASE + "/2fa/start")
@view()
async def start(page: Page) -> web.StreamResponse:
    services = page.services
    try:
        uri, qr, seed = await page.run(totp.start, services.auth.totp, services.accounts,
                                       page.user.account, services.config.hostname or "rmail")
    except Conflict as exc:
        return await _render(page, status=409, error=str(exc), section="2fa")
    return await _render(page, enrolment={"uri": uri, "qrcode": qr, "seed": seed})


async def _with_code(page: Page, fn: Any, *args: Any) -> Any:
    """`fn(*args)` in a thread; None (after counting the failure) for a wrong code."""
    services = page.services
    try:
        return await page.run(fn, *args)
    except totp.WrongCode:
        services.lockout.failure(page.request.remote)
        await page.run(services.auth.log_event, page.user.account, "authentication", "fail",
                       ip=page.request.remote, info=LoginInfo("webmail"), scope="2fa",
                       reason="wrong two-factor code")
        return None


async def _fresh(page: Page) -> Account:
    user = page.user
    return await page.run(page.services.accounts.get, user.domain, user.username)


@routes.post(BASE + "/2fa/activate")
@view()
async def activate(page: Page) -> web.StreamResponse:
    return await _new_codes(page, totp.activate, "Wrong code: scan the QR code again and "
                            "enter the current code.", log="enable 2fa")


@routes.post(BASE + "/2fa/recovery")
@view()
async def recovery(page: Page) -> web.StreamResponse:
    return await _new_codes(page, totp.regenerate, "Wrong or already used code.",
                            log="new recovery codes")


async def _new_codes(page: Page, fn: Any, wrong: str, log: str = "") -> web.Response:
    """Activation or new recovery codes: a code as proof, the codes shown once."""
    token = _field(page, "token", 64)
    services = page.services
    account = await _fresh(page)
    try:
        codes = await _with_code(page, fn, services.auth.totp, services.accounts, account,
                                 token)
    except Conflict as exc:
        return await _render(page, status=409, error=str(exc), section="2fa")
    if codes is None:
        return await _render(page, status=403, error=wrong, section="2fa")
    if log:
        await page.run(_log, page, account, log)
    return await _render(page, recovery_codes=codes)


@routes.post(BASE + "/2fa/disable")
@view()
async def disable(page: Page) -> web.StreamResponse:
    password = _field(page, "password", 4096)
    token = _field(page, "token", 64)
    services = page.services
    account = await _fresh(page)
    if not await services.run_password(services.auth.verify_master, account, password,
                                       ip=page.request.remote):
        return await _render(page, status=403, error="Your password is not right.",
                             section="2fa")
    if totp.enabled(account) and \
            await _with_code(page, services.auth.totp.check, account, token) is None:
        return await _render(page, status=403, error="Wrong or already used code.",
                             section="2fa")
    try:
        await page.run(totp.disable, services.accounts, account)
    except Conflict as exc:
        return await _render(page, status=409, error=str(exc), section="2fa")
    await page.run(_log, page, account, "disable 2fa")
    raise page.redirect(BASE, ok="2fa-off")


# -- application passwords ---------------------------------------------------------------------
@routes.post(BASE + "/asps")
@view()
async def create_asp(page: Page) -> web.StreamResponse:
    description = _field(page, "description", 1000)
    scopes = [s for s in page.form.getall("scope", []) if isinstance(s, str)][:20]
    user = page.user
    try:
        password, record = await page.services.run_password(
            apppasswords.create, page.services.accounts, user.domain, user.username, description,
            scopes)
    except InvalidValue as exc:
        return await _render(page, status=400, error=str(exc), section="asps")
    await page.run(_log, page, user.account, "create asp", record.id)
    return await _render(page, new_asp={"password": password, **record.public()})


@routes.post(BASE + "/asps/{id}/delete")
@view()
async def delete_asp(page: Page) -> web.StreamResponse:
    asp_id = page.request.match_info["id"]
    user = page.user
    try:
        await page.run(apppasswords.delete, page.services.accounts, page.services.auth.security,
                       user.domain, user.username, asp_id)
    except NotFound:
        return await _render(page, status=404, error="No such application password.",
                             section="asps")
    await page.run(_log, page, user.account, "delete asp", asp_id)
    raise page.redirect(BASE, ok="asp-deleted")


# -- addresses ----------------------------------------------------------------------------------
def _address_change(address: str, action: str) -> Any:
    def change(account: Account) -> dict[str, Any]:
        current = list(account.addresses or (account.address,))
        login = f"{account.username}@{account.domain}"
        if action == "add":
            if address in current:
                raise AlreadyExists(f"{address} is already yours")
            return {"addresses": [*current, address]}
        if address not in current:
            raise NotFound(f"{address} is not one of your addresses")
        if action == "main":
            return {"addresses": [address, *(a for a in current if a != address)]}
        if address in (current[0], login):
            raise Conflict("the main address and the login address stay")
        return {"addresses": [a for a in current if a != address]}

    return change


async def _addresses(page: Page, action: str, ok: str) -> web.StreamResponse:
    user = page.user
    accounts = page.services.accounts
    try:
        address = normalize_address(_field(page, "address", 320))
        domain = address.rpartition("@")[2]
        if action == "add":
            if domain != user.domain and not user.manages(domain):
                raise InvalidValue(f"you can add addresses in {user.domain} only")
            record = await page.run(accounts.domain, domain)
            if address.rpartition("@")[0] in record.aliases:
                raise AlreadyExists(f"{address} is an alias")
        await page.run(accounts.modify, user.domain, user.username,
                       _address_change(address, action), addresses=True)
    except (InvalidValue, AlreadyExists, Conflict, NotFound) as exc:
        status = 409 if isinstance(exc, AlreadyExists | Conflict) else \
            404 if isinstance(exc, NotFound) else 400
        return await _render(page, status=status, error=str(exc), section="addresses")
    raise page.redirect(BASE, ok=ok)


@routes.post(BASE + "/addresses")
@view()
async def add_address(page: Page) -> web.StreamResponse:
    return await _addresses(page, "add", "address-added")


@routes.post(BASE + "/addresses/main")
@view()
async def main_address(page: Page) -> web.StreamResponse:
    return await _addresses(page, "main", "address-main")


@routes.post(BASE + "/addresses/delete")
@view()
async def delete_address(page: Page) -> web.StreamResponse:
    return await _addresses(page, "delete", "address-deleted")
