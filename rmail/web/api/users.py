"""`/users/{user}/...`: whose account a request is about, and `GET`/`PUT /users/{user}`.

Every route under `/users/{user}` (account security here, mailboxes, messages, filters...
elsewhere) starts with `resolve_user(request)`:

- `{user}` is `me` (the caller) or one of an account's addresses, percent-decoded by the
  router, any case, IDN domains in Unicode or punycode (`alice@bücher.example` and
  `alice@xn--bcher-kva.example` name the same account);
- an ordinary user reaches only their own account (403 for any other address, existing or
  not, so the answer reveals nothing); an admin reaches accounts in their scope: a global
  admin (`admin: true`) every domain, a domain admin (`admin_domains`) those domains only
  (403 outside, 404 for an address in scope that no account owns);
- the answer is a `UserTarget` (the caller and the account); handlers that change security
  settings also call `require_master` (an application password may read mail but never
  change passwords, two-factor or application passwords).

Successful answers carry `"success": true` (WildDuck's convention): build them with
`success(...)`; errors stay `{"error": "..."}` (raise `ApiError`).

`PUT /users/{user}` applies a table of fields (`USER_FIELDS`): each field has its own checker
and applier, so another area adds a field with one table entry (see `UserField`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from rmail.auth import LoginInfo, Principal, hash_password
from rmail.services import Services
from rmail.store.accounts import Account, check_password, normalize_address
from rmail.store.errors import InvalidValue, NotFound, StaleCache
from rmail.web.api.base import (
    core,
    get_str,
    json_response,
    read_json,
    require_user,
    run,
)
from rmail.web.auth import authenticate, sessions_changed
from rmail.web.errors import ApiError

__all__ = [
    "ME",
    "USER_EXTRAS",
    "USER_FIELDS",
    "UserField",
    "UserTarget",
    "UserUpdate",
    "log_change",
    "require_master",
    "resolve_reader",
    "resolve_user",
    "routes",
    "success",
    "user_document",
]

ME = "me"
MAX_USER_PARAM = 320  # an address is at most 64 + 1 + 253 characters (+ slack for `me`)

routes = web.RouteTableDef()


@dataclass(frozen=True)
class UserTarget:
    """The caller and the account a `/users/{user}` request is about."""

    principal: Principal
    account: Account

    @property
    def is_self(self) -> bool:
        return (self.account.domain, self.account.username) == (
            self.principal.domain, self.principal.username)

    @property
    def domain(self) -> str:
        return self.account.domain

    @property
    def username(self) -> str:
        return self.account.username


def success(data: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    """A JSON answer `{"success": true, ...data}`."""
    return json_response({"success": True, **(data or {})}, status=status)


def log_change(request: web.Request, target: UserTarget, action: str, asp: str = "") -> None:
    """Note a security change of `target` (`password change`, `create asp`, `enable 2fa`...)
    in its auth log, with who made it when an admin did (blocking: call through `run`)."""
    info = LoginInfo("api", request.headers.get("User-Agent", "")[:200])
    by = "" if target.is_self else f"by admin {target.principal.address}"
    core(request).auth.log_event(target.account, action, "success", ip=request.remote,
                                 info=info, asp=asp, reason=by)


def require_master(target: UserTarget) -> None:
    """403 unless the caller logged in with their own password (or a token or session made
    from it): an application password never changes account security."""
    if not target.principal.is_master:
        raise ApiError(403, "An application password cannot change account security settings")


async def resolve_user(request: web.Request, *, principal: Principal | None = None,
                       param: str = "user") -> UserTarget:
    """The account named by the path parameter `param` for this request's caller, or
    ApiError 400 (not an address), 401 (no or bad credentials), 403 (outside the caller's
    scope), 404 (in scope but no such account)."""
    if principal is None:
        principal = await require_user(request)
    raw = request.match_info.get(param, "")
    if raw.strip().lower() == ME:
        return UserTarget(principal, principal.account)
    if len(raw) > MAX_USER_PARAM:
        raise ApiError(400, "User must be 'me' or an e-mail address")
    try:
        address = normalize_address(raw)
    except InvalidValue:
        raise ApiError(400, "User must be 'me' or an e-mail address") from None
    accounts = core(request).accounts
    try:  # the address map in memory when it is current (one stat), else a scan in a thread
        owner = accounts.find_address(address, memory_only=True)
    except StaleCache:
        owner = await run(request, accounts.find_address, address)
    if owner is not None and owner == (principal.domain, principal.username):
        return UserTarget(principal, principal.account)
    domain = owner[0] if owner is not None else address.rpartition("@")[2]
    if not principal.manages(domain):
        raise ApiError(403, "You may only manage your own account"
                       if not principal.is_any_admin else
                       f"Domain {domain} is outside your administration")
    if owner is None:
        raise ApiError(404, f"No account has the address {address}")
    try:
        account = await run(request, accounts.get_current, *owner)
    except NotFound:
        raise ApiError(404, f"No account has the address {address}") from None
    return UserTarget(principal, account)


async def resolve_reader(request: web.Request) -> UserTarget:
    """`resolve_user` for the read-only routes the webmail's pages call with their session
    cookie (the update stream, the folder counts): a cookie opens the caller's own account
    only, never the accounts an admin manages."""
    principal = await authenticate(request, cookie=True)
    target = await resolve_user(request, principal=principal)
    if not target.is_self and "Authorization" not in request.headers:
        raise ApiError(403, "A webmail session reads only its own account")
    return target


# -- GET /users/{user} ---------------------------------------------------------------------------
def user_document(account: Account) -> dict[str, Any]:
    """What `GET /users/{user}` shows: the admin view of the account plus the fields of
    `USER_FIELDS` that have a `show`."""
    doc: dict[str, Any] = {
        "address": account.address, **account.public(), "name": account.display_name,
        "enabled2fa": ["totp"] if (account.totp or {}).get("enabled") else [],
    }
    for name, spec in USER_FIELDS.items():
        if spec.show is not None:
            doc[name] = spec.show(account)
    return doc


# Fields of GET /users/{user} kept outside account.json (forwarding, retention): each entry
# reads them for an account on a store thread; areas append to it.
USER_EXTRAS: list[Callable[[Services, Account], dict[str, Any]]] = []


@routes.get("/users/{user}")
async def get_user(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    doc = user_document(target.account)
    for extra in USER_EXTRAS:
        doc.update(await run(request, extra, core(request), target.account))
    return success(doc)


# -- PUT /users/{user} ---------------------------------------------------------------------------
@dataclass
class UserUpdate:
    """What one `PUT /users/{user}` collects before it writes: `changes` go to
    `Accounts.update` in one locked write; `after` runs once that write succeeded (for
    settings stored elsewhere than `account.json`)."""

    request: web.Request
    target: UserTarget
    body: dict[str, Any]
    changes: dict[str, Any] = field(default_factory=dict)
    after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


Apply = Callable[[UserUpdate, Any], Awaitable[None]]


@dataclass(frozen=True)
class UserField:
    """One field `PUT /users/{user}` accepts. `apply(update, value)` checks the value
    (raising ApiError/InvalidValue) and records its change in `update`; `show`, when given,
    puts the field's current value into `GET /users/{user}`; `admin_only`: only an admin of
    the account's domain may set it (403 for the user themselves); `master`: only a login
    with the account's own password may set it."""

    apply: Apply
    show: Callable[[Account], Any] | None = None
    admin_only: bool = False
    master: bool = False


async def _apply_name(update: UserUpdate, value: Any) -> None:
    name = get_str({"name": value}, "name", max_length=200)
    update.changes["display_name"] = name or ""


async def _apply_existing_password(update: UserUpdate, value: Any) -> None:
    """Checked by `_apply_password` (it is only meaningful with `password`)."""
    if "password" not in update.body:
        raise ApiError(400, "existingPassword is only used together with password")
    get_str({"existingPassword": value}, "existingPassword", max_length=4096)


async def _apply_password(update: UserUpdate, value: Any) -> None:
    """The user changing their own password proves the current one (`existingPassword`);
    an admin setting another user's password needs no proof. Every token and webmail session
    of the account ends (the auth epoch moves)."""
    password = check_password(get_str({"password": value}, "password", max_length=4096))
    target, services = update.target, core(update.request)
    if target.is_self or "existingPassword" in update.body:
        existing = get_str(update.body, "existingPassword", max_length=4096)
        if existing is None:
            raise ApiError(400, "Missing field: existingPassword")
        ok = await services.run_password(services.auth.verify_master, target.account, existing,
                                         ip=update.request.remote)
        if not ok:
            raise ApiError(403, "existingPassword is not the current password")
    update.changes["password_hash"] = await services.run_password(hash_password, password)


# name -> how PUT applies it. Order matters only for reading: every field is checked before
# anything is written.
USER_FIELDS: dict[str, UserField] = {
    "name": UserField(_apply_name),
    "existingPassword": UserField(_apply_existing_password, master=True),
    "password": UserField(_apply_password, master=True),
}


@routes.put("/users/{user}")
async def put_user(request: web.Request) -> web.Response:
    """Change the fields given; all are checked before one write."""
    target = await resolve_user(request)
    body = await read_json(request, allowed=USER_FIELDS)
    if not body:
        raise ApiError(400, "Nothing to change")
    update = UserUpdate(request, target, body)
    for name, value in body.items():
        spec = USER_FIELDS[name]
        if spec.admin_only and not target.principal.manages(target.domain):
            raise ApiError(403, f"Only an admin may change {name}")
        if spec.master:
            require_master(target)
        await spec.apply(update, value)
    services = core(request)
    if update.changes:
        try:
            await run(request, services.accounts.update, target.domain, target.username,
                      **update.changes)
        except NotFound:
            raise ApiError(404, "The account was deleted meanwhile") from None
    for step in update.after:
        await step()
    if "password_hash" in update.changes:
        await run(request, log_change, request, target, "password change")
        sessions_changed(services, target.domain, target.username)
    return success()
