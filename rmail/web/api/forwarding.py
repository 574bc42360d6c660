"""The forwarding and retention fields of `PUT /users/{user}` (added to
`rmail.web.api.users.USER_FIELDS` by `rmail.web.api.setup_api`):

- ``forward``: addresses every delivered message is forwarded to (SRS on the way out),
  ``[]`` to stop; each is checked like a filter's target (no own address, no two-step loop);
- ``forwardKeep``: keep a copy in the mailbox too (default true);
- ``forwards``: admin only, forwarded recipients per 24 hours (``null``: the default);
- ``retention``: milliseconds after which messages arriving from now on expire (0: never),
  see `rmail.store.retention`.

Each is written after the account write succeeded, into the user's `mailrules.json` (or
`retention.json`), durably and under its lock.
"""

from __future__ import annotations

from typing import Any

from rmail.services import Services
from rmail.store.accounts import Account
from rmail.store.mailrules import MAX_FORWARD
from rmail.store.retention import check_retention
from rmail.web.api.base import core, run
from rmail.web.api.filters import check_target
from rmail.web.api.users import UserField, UserUpdate
from rmail.web.errors import ApiError

__all__ = ["FIELDS", "MAX_FORWARDS"]

MAX_FORWARDS = 1_000_000


async def _apply_forward(update: UserUpdate, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, "Field forward must be a list of e-mail addresses")
    if len(value) > MAX_FORWARD:
        raise ApiError(400, f"Field forward has more than {MAX_FORWARD} addresses")
    services, target = core(update.request), update.target
    checked = tuple([await services.run(check_target, services, target, a) for a in value])
    store = services.delivery.rules.store

    async def write() -> None:
        await services.run(store.set_forwarding, target.domain, target.username,
                           forward=checked)
    update.after.append(write)


async def _apply_forward_keep(update: UserUpdate, value: Any) -> None:
    if not isinstance(value, bool):
        raise ApiError(400, "Field forwardKeep must be true or false")
    store, target = core(update.request).delivery.rules.store, update.target

    async def write() -> None:
        await run(update.request, store.set_forwarding, target.domain, target.username,
                  keep=value)
    update.after.append(write)


async def _apply_forwards(update: UserUpdate, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not 0 <= value <= MAX_FORWARDS):
        raise ApiError(400, f"Field forwards must be null or an integer 0-{MAX_FORWARDS}")
    store, target = core(update.request).delivery.rules.store, update.target

    async def write() -> None:
        await run(update.request, store.set_forwarding, target.domain, target.username,
                  forwards=value)
    update.after.append(write)


async def _apply_retention(update: UserUpdate, value: Any) -> None:
    ms = check_retention(value)
    services, target = core(update.request), update.target

    async def write() -> None:
        await services.run(services.retention.set_user_retention, target.domain,
                           target.username, ms)
    update.after.append(write)


def shown(services: Services, account: Account) -> dict[str, Any]:
    """These fields' current values for `GET /users/{user}` (`users.USER_EXTRAS`)."""
    rules = services.delivery.rules.store.get(account.domain, account.username)
    doc = services.retention.get(account.domain, account.username)
    return {"forward": list(rules.forward), "forwardKeep": rules.forward_keep,
            "forwards": rules.forward_limit(services.config.forwards_per_day),
            "retention": doc["user"][-1]["ms"] if doc["user"] else 0}


FIELDS: dict[str, UserField] = {
    "forward": UserField(_apply_forward),
    "forwardKeep": UserField(_apply_forward_keep),
    "forwards": UserField(_apply_forwards, admin_only=True),
    "retention": UserField(_apply_retention),
}
