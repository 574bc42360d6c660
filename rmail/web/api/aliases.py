"""Domain aliases (reference manual, "Alias Management"): regex rules (`pattern` -> `target`)
and plain aliases (`name` -> several targets). Anyone may list their own domain's aliases;
changes need an admin of the domain: a global admin (any domain, default their own) or a
domain admin (`admin_domains`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rmail.auth import Principal
from rmail.store.accounts import normalize_domain, split_address
from rmail.store.errors import InvalidValue, NotFound
from rmail.web.api.base import (
    core,
    get_str,
    get_str_list,
    json_response,
    managed_domain,
    read_json,
    require_domain_admin,
    require_user,
    run,
)
from rmail.web.errors import ApiError

routes = web.RouteTableDef()


def target_domain(principal: Principal, requested: str | None) -> str:
    """The domain a request is about: the given one (normalised) or the caller's own."""
    if not requested:
        return principal.domain
    try:
        return normalize_domain(requested)
    except InvalidValue as exc:
        raise ApiError(400, str(exc)) from None


@routes.get("/aliases")
async def list_aliases(request: web.Request) -> web.Response:
    principal = await require_user(request)
    domain = target_domain(principal, request.query.get("domain"))
    if domain != principal.domain and not principal.manages(domain):
        raise ApiError(403, "Admin privileges required for another domain")
    accounts = core(request).accounts
    record = await run(request, accounts.domain, domain)
    return json_response({
        "domain": domain,
        "aliases": [{"pattern": r.pattern, "target": r.target} for r in record.rules],
        "plain": [{"name": name, "address": f"{name}@{domain}", "targets": list(targets)}
                  for name, targets in sorted(record.aliases.items())],
    })


@routes.post("/aliases")
async def add_alias(request: web.Request) -> web.Response:
    """`{"pattern", "target"}` adds a regex rule; `{"name", "targets"}` a plain alias
    (`targets`: a list, or one comma-separated string)."""
    principal = await require_domain_admin(request)
    body = await read_json(request, allowed=("pattern", "target", "name", "targets", "domain"))
    domain = managed_domain(principal, get_str(body, "domain", max_length=253))
    accounts = core(request).accounts
    is_rule = "pattern" in body or "target" in body
    is_plain = "name" in body or "targets" in body
    if is_rule == is_plain:
        raise ApiError(400, "Give either pattern and target, or name and targets")
    await run(request, accounts.domain, domain)  # 404 for an unknown domain
    result: dict[str, Any]
    if is_rule:
        pattern = get_str(body, "pattern", required=True, max_length=256)
        target = get_str(body, "target", required=True, max_length=320)
        rule = await run(request, accounts.add_alias_rule, domain, pattern or "", target or "")
        result = {"domain": domain, "pattern": rule.pattern, "target": rule.target}
    else:
        name = get_str(body, "name", required=True, max_length=64) or ""
        raw_targets = body.get("targets")
        if isinstance(raw_targets, str):
            targets: list[str] | str = raw_targets
        else:
            targets = get_str_list(body, "targets", required=True, max_items=100,
                                   max_length=320)
        checked = await run(request, accounts.set_alias, domain, name, targets)
        local = split_address(f"{name}@{domain}")[0]
        result = {"domain": domain, "name": local, "address": f"{local}@{domain}",
                  "targets": checked}
    return json_response(result, status=201)


@routes.delete("/aliases/{pattern:.+}")
async def delete_alias(request: web.Request) -> web.Response:
    """Removes the regex rule with exactly this pattern, else the plain alias of this name;
    `kind=rule` or `kind=plain` says which when both exist."""
    principal = await require_domain_admin(request)
    domain = managed_domain(principal, request.query.get("domain"))
    pattern = request.match_info["pattern"]
    kind = request.query.get("kind", "")
    if kind not in ("", "rule", "plain"):
        raise ApiError(400, "Parameter kind must be rule or plain")
    accounts = core(request).accounts
    record = await run(request, accounts.domain, domain)
    if kind != "plain" and any(r.pattern == pattern for r in record.rules):
        await run(request, accounts.delete_alias_rule, domain, pattern)
        return json_response({"domain": domain, "pattern": pattern, "deleted": True})
    try:
        local = split_address(f"{pattern}@{domain}")[0]
    except InvalidValue:
        local = None
    if kind != "rule" and local is not None and local in record.aliases:
        await run(request, accounts.delete_alias, domain, local)
        return json_response({"domain": domain, "name": local, "deleted": True})
    raise NotFound(f"No alias {pattern!r} in {domain}")
