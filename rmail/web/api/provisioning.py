"""The mail controller's REST API: `/mail/account/...` and `/mail/alias/...`.

The model is the controller's (provisioning seed 004): an account is `{id, name, domain,
password, spoofing_whitelist, submission_disabled}` with `id` = the address and `password`
shown only as the stored hash (written in plain text); an alias is `{id, name, domain, to}`
with `to` a comma-separated list. Routes exist with and without the trailing slash; bodies
may be JSON or form-encoded (controllers send either); form booleans accept true/false, 1/0,
on/off, yes/no. A create for a domain rmail does not host creates the domain: the controller
is the authority for its domains.

Who may call: a global admin's token (or Basic credentials), or a controller's API key as
`Authorization: Bearer KEY` (argon2id hashes in `provisioning.api_keys`), over HTTPS (plain
HTTP only from `security.trusted_networks`, i.e. a TLS-terminating proxy on the host). The
check is `require_controller`: API keys here, everything else through the shared front door
(`rmail.web.auth`, via `require_admin`).

Deleting an account keeps its data for `provisioning.delete_grace_days` (gone from the API,
delivery and logins at once; `rmail user restore` brings it back).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from rmail.auth import hash_password
from rmail.provisioning.document import parse_targets
from rmail.provisioning.keys import key_matches, key_matches_recently, looks_like_key
from rmail.store.accounts import (
    Account,
    check_password,
    check_username,
    normalize_address,
    normalize_domain,
    split_address,
)
from rmail.store.errors import AlreadyExists, InvalidValue, NotFound, UnsafeName
from rmail.store.provisioning import ORIGIN_REST, ProvisioningStore
from rmail.web.api.base import core, json_response, read_body, read_json, require_admin, run
from rmail.web.auth import BEARER_CHALLENGE, locked_error
from rmail.web.errors import ApiError

BODY_LIMIT = 64 * 1024
WHITELIST_MAX = 100
TRUE = ("true", "1", "on", "yes")
FALSE = ("false", "0", "off", "no")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROUTES: list[tuple[str, str, Handler]] = []  # (method, path with trailing slash, handler)


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, path, handler))
        return handler
    return register


def setup_provisioning(app: web.Application) -> None:
    """Each route as 004 writes it (trailing slash) and without the slash."""
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, path.rstrip("/"), handler)


# -- who is calling --------------------------------------------------------------------------
async def require_controller(request: web.Request) -> str:
    """A controller's API key or a global admin; returns who, for the log."""
    services = core(request)
    if not request.secure and not services.config.security.is_trusted(request.remote or ""):
        raise ApiError(403, "The provisioning API is served over HTTPS only")
    scheme, _, credential = request.headers.get("Authorization", "").strip().partition(" ")
    credential = credential.strip()
    hashes = services.config.provisioning.api_keys
    if scheme.lower() == "bearer" and hashes and credential and looks_like_key(credential):
        ip = request.remote
        if services.lockout.is_locked(ip):
            raise locked_error(services, ip)
        if key_matches_recently(credential, hashes) or \
                await core(request).run_password(key_matches, credential, hashes):
            services.lockout.success(ip)
            return "api-key"
        services.lockout.failure(ip)
        raise ApiError(401, "Invalid API key", {"WWW-Authenticate": BEARER_CHALLENGE})
    principal = await require_admin(request)  # the front door: JWT or Basic, admins only
    return principal.address


# -- bodies --------------------------------------------------------------------------------------
async def read_fields(request: web.Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    """A JSON object or a form (urlencoded or multipart) with no fields outside `allowed`;
    no body at all is an empty form."""
    ctype = request.content_type
    if ctype == "application/json":
        return await read_json(request, allowed=allowed, limit=BODY_LIMIT)
    if ctype == "multipart/form-data":
        if request.content_length is not None and request.content_length > BODY_LIMIT:
            raise ApiError(413, f"Request body larger than {BODY_LIMIT} bytes")
        try:
            form = await request.post()
        except (ValueError, AssertionError):  # no boundary, a torn part: aiohttp's refusals
            raise ApiError(400, "Malformed multipart body") from None
        if any(not isinstance(v, str) for v in form.values()):
            raise ApiError(400, "File uploads are not accepted here")
        return _fields([(k, str(v)) for k, v in form.items()], allowed)
    raw = await read_body(request, BODY_LIMIT)
    if ctype == "application/x-www-form-urlencoded" or (not raw.strip() and
                                                          ctype == "application/octet-stream"):
        try:
            text = raw.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                              errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "Malformed form body") from None
        return _fields(pairs, allowed)
    raise ApiError(415, "Send application/json or application/x-www-form-urlencoded")


def _fields(pairs: list[tuple[str, str]], allowed: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key not in allowed:
            raise ApiError(400, f"Unknown field: {key}")
        if key in out:
            raise ApiError(400, f"Field {key} given twice")
        out[key] = value
    return out


def _str(body: dict[str, Any], name: str, *, required: bool = True, default: str = "",
         max_length: int = 4096) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"{name}: required")
        return default
    if not isinstance(value, str):
        raise ApiError(400, f"{name}: must be a string")
    if len(value) > max_length:
        raise ApiError(400, f"{name}: longer than {max_length} characters")
    return value


def _bool(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
        return value.strip().lower() in TRUE
    raise ApiError(400, f"{name}: must be true or false (also 1/0, on/off, yes/no)")


def _checked(name: str, fn: Callable[[Any], Any], value: Any) -> Any:
    """Run a store validator; its refusal becomes a 400 naming the field."""
    try:
        return fn(value)
    except (InvalidValue, UnsafeName) as exc:
        raise ApiError(400, f"{name}: {exc}") from None


def parse_whitelist(raw: str) -> tuple[str, ...]:
    """`a@x.org, @example.com, skylime.net` or `*` -> normalised entries."""
    out: dict[str, None] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if part == "*":
            entry = "*"
        elif "@" in part and not part.startswith("@"):
            entry = normalize_address(part)
        else:
            entry = "@" + normalize_domain(part.removeprefix("@"))
        out[entry] = None
    if len(out) > WHITELIST_MAX:
        raise InvalidValue(f"more than {WHITELIST_MAX} entries")
    return tuple(out)


# -- the model -----------------------------------------------------------------------------------
def account_model(account: Account) -> dict[str, Any]:
    return {"id": f"{account.username}@{account.domain}", "name": account.username,
            "domain": account.domain, "password": account.password_hash,
            "spoofing_whitelist": ",".join(account.sender_whitelist),
            "submission_disabled": not account.submission_enabled}


def alias_model(domain: str, name: str, targets: list[str]) -> dict[str, Any]:
    return {"id": f"{name}@{domain}", "name": name, "domain": domain, "to": ",".join(targets)}


def _address(request: web.Request) -> tuple[str, str]:
    """(domain, local) of the `{id}` in the path; a malformed id is simply not found."""
    raw = request.match_info["id"]
    try:
        local, domain = split_address(raw)
    except (InvalidValue, UnsafeName):
        raise ApiError(404, f"No such address {raw!r}") from None
    return domain, local


def _user(request: web.Request) -> tuple[str, str]:
    domain, local = _address(request)
    try:
        return domain, check_username(local)
    except InvalidValue:
        raise ApiError(404, f"No account {local}@{domain}") from None


def _domain_query(request: web.Request) -> str | None:
    raw = request.query.get("domain")
    if raw is None or raw == "":
        return None
    return _checked("domain", normalize_domain, raw)


# -- accounts ------------------------------------------------------------------------------------
async def _listing(request: web.Request,
                   per_domain: Callable[[Any, str], list[dict[str, Any]]]) -> web.Response:
    """`GET /mail/{kind}/[?domain=]`: every hosted domain's entries, or one domain's (an unknown
    domain lists nothing, as 004's controller expects)."""
    await require_controller(request)
    domain = _domain_query(request)
    accounts = core(request).accounts

    def collect() -> list[dict[str, Any]]:
        if domain and not accounts.has_domain(domain):
            return []
        return [item for d in ([domain] if domain else accounts.domains())
                for item in per_domain(accounts, d)]

    return json_response(await run(request, collect))


@route("GET", "/mail/account/")
async def list_accounts(request: web.Request) -> web.Response:
    return await _listing(request, lambda accounts, d: [account_model(a)
                                                        for a in accounts.users(d)])


@route("POST", "/mail/account/")
async def create_account(request: web.Request) -> web.Response:
    await require_controller(request)
    body = await read_fields(request, ("name", "domain", "password", "submission_disabled",
                                       "spoofing_whitelist"))
    name = _checked("name", check_username, _str(body, "name", max_length=64).strip().lower())
    domain = _checked("domain", normalize_domain, _str(body, "domain", max_length=253))
    password = _checked("password", check_password, _str(body, "password"))
    disabled = _bool(body, "submission_disabled", False)
    whitelist = _checked("spoofing_whitelist", parse_whitelist,
                         _str(body, "spoofing_whitelist", required=False))
    services = core(request)
    accounts = services.accounts
    if await run(request, _alias_exists, accounts, domain, name):
        raise AlreadyExists(f"{name}@{domain} is an alias")
    password_hash = await core(request).run_password(hash_password, password)
    await run(request, accounts.create, domain, name, password_hash,
              quota_mb=services.config.quota_mb_default, origin=ORIGIN_REST)
    account = await run(request, accounts.update, domain, name, submission_enabled=not disabled,
                        sender_whitelist=whitelist)
    return json_response(account_model(account), status=201)


def _alias_exists(accounts: Any, domain: str, name: str) -> bool:
    try:
        return name in accounts.domain(domain).aliases
    except NotFound:
        return False


@route("GET", "/mail/account/{id}/")
async def get_account(request: web.Request) -> web.Response:
    await require_controller(request)
    account = await run(request, core(request).accounts.get, *_user(request))
    return json_response(account_model(account))


@route("DELETE", "/mail/account/{id}/")
async def delete_account(request: web.Request) -> web.Response:
    await require_controller(request)
    domain, name = _user(request)
    services = core(request)
    store = ProvisioningStore(services.accounts)
    await run(request, store.retire, domain, name,
              grace_days=services.config.provisioning.delete_grace_days)
    services.mail.forget(domain, name)
    return web.Response(status=204)


@route("POST", "/mail/account/{id}/set_password/")
async def set_password(request: web.Request) -> web.Response:
    await require_controller(request)
    domain, name = _user(request)
    body = await read_fields(request, ("password",))
    password = _checked("password", check_password, _str(body, "password"))
    accounts = core(request).accounts
    await run(request, accounts.get, domain, name)  # 404 before spending a hash
    password_hash = await core(request).run_password(hash_password, password)
    account = await run(request, accounts.update, domain, name, password_hash=password_hash)
    return json_response(account_model(account))


async def _set_submission(request: web.Request, enabled: bool) -> web.Response:
    await require_controller(request)
    domain, name = _user(request)
    await read_fields(request, ())
    accounts = core(request).accounts
    account = await run(request, accounts.update, domain, name, submission_enabled=enabled)
    return json_response(account_model(account))


@route("POST", "/mail/account/{id}/disable_submission/")
async def disable_submission(request: web.Request) -> web.Response:
    return await _set_submission(request, False)


@route("POST", "/mail/account/{id}/enable_submission/")
async def enable_submission(request: web.Request) -> web.Response:
    return await _set_submission(request, True)


@route("POST", "/mail/account/{id}/set_spoofing_whitelist/")
async def set_spoofing_whitelist(request: web.Request) -> web.Response:
    await require_controller(request)
    domain, name = _user(request)
    body = await read_fields(request, ("spoofing_whitelist",))
    whitelist = _checked("spoofing_whitelist", parse_whitelist,
                         _str(body, "spoofing_whitelist", max_length=32_000))
    accounts = core(request).accounts
    account = await run(request, accounts.update, domain, name, sender_whitelist=whitelist)
    return json_response(account_model(account))


# -- aliases -------------------------------------------------------------------------------------
@route("GET", "/mail/alias/")
async def list_aliases(request: web.Request) -> web.Response:
    return await _listing(request, lambda accounts, d: [
        alias_model(d, local, targets)
        for local, targets in sorted(accounts.plain_aliases(d).items())])


def _targets(body: dict[str, Any]) -> tuple[str, ...]:
    return _checked("to", parse_targets, _str(body, "to", max_length=64_000))


async def _check_local_targets(request: web.Request, targets: tuple[str, ...]) -> None:
    """A recipient in a hosted domain must lead somewhere (an account or an alias)."""
    accounts = core(request).accounts

    def missing() -> list[str]:
        out = []
        for target in targets:
            if accounts.is_local_domain(target.rpartition("@")[2]):
                try:
                    accounts.resolve(target)
                except (NotFound, InvalidValue):
                    out.append(target)
        return out

    gone = await run(request, missing)
    if gone:
        raise ApiError(400, f"to: no local account or alias {', '.join(gone)}")


@route("POST", "/mail/alias/")
async def create_alias(request: web.Request) -> web.Response:
    await require_controller(request)
    body = await read_fields(request, ("name", "domain", "to"))
    domain = _checked("domain", normalize_domain, _str(body, "domain", max_length=253))
    raw_name = _str(body, "name", max_length=64).strip()
    if "@" in raw_name:
        raise ApiError(400, "name: give the part before @ only")
    name = _checked("name", split_address, f"{raw_name}@{domain}")[0]
    targets = _targets(body)
    await _check_local_targets(request, targets)
    accounts = core(request).accounts
    await run(request, accounts.add_domain, domain, exist_ok=True)
    checked = await run(request, accounts.set_alias, domain, name, list(targets),
                        origin=ORIGIN_REST,
                        create_only=True)
    return json_response(alias_model(domain, name, checked), status=201)


@route("GET", "/mail/alias/{id}/")
async def get_alias(request: web.Request) -> web.Response:
    await require_controller(request)
    domain, name = _address(request)
    accounts = core(request).accounts
    aliases = await run(request, _plain_aliases, accounts, domain)
    if name not in aliases:
        raise NotFound(f"No alias {name}@{domain}")
    return json_response(alias_model(domain, name, aliases[name]))


def _plain_aliases(accounts: Any, domain: str) -> dict[str, list[str]]:
    try:
        return dict(accounts.plain_aliases(domain))
    except NotFound:
        return {}


@route("PUT", "/mail/alias/{id}/")
async def update_alias(request: web.Request) -> web.Response:
    await require_controller(request)
    domain, name = _address(request)
    body = await read_fields(request, ("to", "id", "name", "domain"))
    for key, expected in (("id", f"{name}@{domain}"), ("name", name), ("domain", domain)):
        if key in body and _str(body, key).strip().lower() != expected:
            raise ApiError(400, f"{key}: does not match the alias in the path")
    targets = _targets(body)
    accounts = core(request).accounts
    if name not in await run(request, _plain_aliases, accounts, domain):
        raise NotFound(f"No alias {name}@{domain}")
    await _check_local_targets(request, targets)
    checked = await run(request, accounts.set_alias, domain, name, list(targets), update_only=True)
    return json_response(alias_model(domain, name, checked))


@route("DELETE", "/mail/alias/{id}/")
async def delete_alias(request: web.Request) -> web.Response:
    await require_controller(request)
    domain, name = _address(request)
    accounts = core(request).accounts
    if name not in await run(request, _plain_aliases, accounts, domain):
        raise NotFound(f"No alias {name}@{domain}")
    await run(request, accounts.delete_alias, domain, name)
    return web.Response(status=204)


__all__ = ["ROUTES", "require_controller", "setup_provisioning"]
