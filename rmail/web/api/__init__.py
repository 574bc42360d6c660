"""The Exchange-style JSON API: one route table per area, mounted by `setup_api`."""

from __future__ import annotations

from aiohttp import web

from rmail.web.api import (
    addresses,
    admin_domains,
    admin_users,
    aliases,
    asps,
    auth,
    authenticate,
    authlog,
    filters,
    folders,
    forwarding,
    mailboxes,
    messages,
    search,
    send,
    twofactor,
    updates,
    users,
)
from rmail.web.api.provisioning import setup_provisioning

ROUTE_TABLES = (auth.routes, folders.routes, send.routes, aliases.routes, admin_users.routes,
                users.routes, mailboxes.routes, messages.routes, filters.routes,
                search.routes, asps.routes, twofactor.routes, authlog.routes,
                authenticate.routes, admin_domains.routes, addresses.routes,
                updates.routes)
# PUT /users/{user} also takes the forwarding fields (its field table is open to areas).
users.USER_FIELDS.update(forwarding.FIELDS)
users.USER_EXTRAS.append(forwarding.shown)


def setup_api(app: web.Application) -> None:
    for table in ROUTE_TABLES:
        app.add_routes(table)
    setup_provisioning(app)  # /mail/account/..., /mail/alias/... (with and without the slash)
