"""`GET|POST /admin/domains`: the domains rmail hosts.

Listing: a global admin sees every domain, a domain admin those they administer. Adding a
domain is for global admins only (domain admins manage users and aliases inside theirs);
`/admin/users` never creates one.
"""

from __future__ import annotations

from aiohttp import web

from rmail.store.accounts import normalize_domain
from rmail.web.api.base import (
    core,
    get_str,
    json_response,
    read_json,
    require_admin,
    require_domain_admin,
    run,
)

routes = web.RouteTableDef()


@routes.get("/admin/domains")
async def list_domains(request: web.Request) -> web.Response:
    principal = await require_domain_admin(request)
    domains = await run(request, core(request).accounts.domains)
    return json_response({"domains": [d for d in domains if principal.manages(d)]})


@routes.post("/admin/domains")
async def add_domain(request: web.Request) -> web.Response:
    """`{"domain": "example.org"}` (IDN allowed, stored in punycode); 409 when hosted."""
    await require_admin(request)
    body = await read_json(request, allowed=("domain",))
    domain = normalize_domain(get_str(body, "domain", required=True, max_length=253))
    name = await run(request, core(request).accounts.add_domain, domain)
    return json_response({"domain": name}, status=201)
