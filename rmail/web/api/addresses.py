"""A user's addresses: `GET|POST /users/{user}/addresses`, `PUT|DELETE
/users/{user}/addresses/{address}`, and the admin's search `GET /addresses?query=`.

The first address is the main one (the default sender); the login address `user@domain`
always stays. A user adds addresses in their own domain only, an admin in the domains they
administer; an address of another user or a plain alias is refused (409). A new address
receives mail at once (every process's address map follows `accounts.gen`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rmail.store.accounts import Account, normalize_address
from rmail.store.errors import InvalidValue
from rmail.web.api.base import (
    core,
    get_bool,
    get_str,
    json_response,
    query_int,
    read_json,
    require_domain_admin,
    run,
)
from rmail.web.api.users import UserTarget, resolve_user, success
from rmail.web.errors import ApiError

routes = web.RouteTableDef()

MAX_ADDRESSES = 100


def address_list(account: Account) -> list[dict[str, Any]]:
    addresses = account.addresses or (account.address,)
    return [{"address": a, "main": i == 0} for i, a in enumerate(addresses)]


def _address(raw: object) -> str:
    try:
        return normalize_address(raw)
    except InvalidValue as exc:
        raise ApiError(400, str(exc)) from None


def _own(target: UserTarget, raw: str) -> str:
    address = _address(raw)
    if address not in target.account.addresses:
        raise ApiError(404, f"{address} is not an address of this account")
    return address


@routes.get("/users/{user}/addresses")
async def list_addresses(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    return success({"results": address_list(target.account)})


@routes.post("/users/{user}/addresses")
async def add_address(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    body = await read_json(request, allowed=("address", "main"))
    address = _address(get_str(body, "address", required=True, max_length=320))
    main = bool(get_bool(body, "main", default=False))
    local, _, domain = address.rpartition("@")
    principal = target.principal
    allowed = principal.manages(domain) or (target.is_self and domain == target.domain)
    if not allowed:
        raise ApiError(403, f"You may add addresses in {target.domain} only"
                       if not principal.is_any_admin else
                       f"Domain {domain} is outside your administration")
    accounts = core(request).accounts
    record = await run(request, accounts.domain, domain)  # 404: rmail does not host the domain
    if local in record.aliases:
        raise ApiError(409, f"{address} is an alias")

    def add(account: Account) -> dict[str, Any]:
        current = list(account.addresses or (account.address,))
        if address in current:
            raise ApiError(409, f"{address} is already an address of this account")
        if len(current) >= MAX_ADDRESSES:
            raise ApiError(400, f"At most {MAX_ADDRESSES} addresses")
        return {"addresses": [address, *current] if main else [*current, address]}

    account = await run(request, accounts.modify, target.domain, target.username, add,
                        addresses=True)
    return success({"results": address_list(account)})


@routes.put("/users/{user}/addresses/{address}")
async def set_main(request: web.Request) -> web.Response:
    """`{"main": true}` makes this address the main one (the default sender)."""
    target = await resolve_user(request)
    address = _own(target, request.match_info["address"])
    body = await read_json(request, allowed=("main",))
    if get_bool(body, "main") is not True:
        raise ApiError(400, "Field main must be true (make another address main instead)")

    def promote(account: Account) -> dict[str, Any]:
        current = list(account.addresses)
        if address not in current:
            raise ApiError(404, f"{address} is not an address of this account")
        return {"addresses": [address, *(a for a in current if a != address)]}

    account = await run(request, core(request).accounts.modify, target.domain, target.username,
                        promote, addresses=True)
    return success({"results": address_list(account)})


@routes.delete("/users/{user}/addresses/{address}")
async def remove_address(request: web.Request) -> web.Response:
    target = await resolve_user(request)
    address = _own(target, request.match_info["address"])

    def remove(account: Account) -> dict[str, Any]:
        current = list(account.addresses)
        if address not in current:
            raise ApiError(404, f"{address} is not an address of this account")
        if current[0] == address:
            raise ApiError(409, "The main address cannot be removed; make another one main")
        if address == f"{account.username}@{account.domain}":
            raise ApiError(409, "The login address cannot be removed")
        return {"addresses": [a for a in current if a != address]}

    account = await run(request, core(request).accounts.modify, target.domain, target.username,
                        remove,
                        addresses=True)
    return success({"results": address_list(account)})


@routes.get("/addresses")
async def search(request: web.Request) -> web.Response:
    """Admins: the addresses of the domains they administer containing `query`."""
    principal = await require_domain_admin(request)
    query = request.query.get("query", "").strip().lower()
    if len(query) > 320:
        raise ApiError(400, "Parameter query is longer than 320 characters")
    limit = query_int(request, "limit", 100, 1, 1000)
    owners = await run(request, core(request).accounts.address_owners)
    hits = sorted((a, o) for a, o in owners.items()
                  if query in a and principal.manages(a.rpartition("@")[2]))
    return json_response({"success": True, "total": len(hits), "results": [
        {"address": a, "user": f"{o[1]}@{o[0]}", "domain": o[0]} for a, o in hits[:limit]]})
