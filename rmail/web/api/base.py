"""What every JSON API handler needs: the services, who is calling, and checked input.

Handlers call `require_user` / `require_admin` first, read input only through the checked
readers here (`read_json`, `read_body`, the field getters, `query_int`, `folder_name`), call the
synchronous store through `run(request, ...)` (the services' store pool), and raise
`ApiError` or let store errors propagate: the status is chosen in `rmail.web.errors`.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

import orjson
from aiohttp import web

from rmail.auth import Principal
from rmail.services import Services
from rmail.store.accounts import normalize_domain
from rmail.store.errors import InvalidValue
from rmail.store.folders import SEPARATOR, canonical_name
from rmail.web.auth import authenticate
from rmail.web.errors import ApiError
from rmail.web.keys import CORE_KEY

__all__ = [
    "JSON_LIMIT",
    "core",
    "folder_name",
    "get_bool",
    "get_int",
    "get_str",
    "get_str_list",
    "json_response",
    "managed_domain",
    "query_int",
    "read_body",
    "read_json",
    "require_admin",
    "require_domain_admin",
    "require_user",
    "run",
]

JSON_LIMIT = 1024 * 1024  # bytes of a JSON request body (sending mail has its own limit)
_CHUNK = 256 * 1024

P = ParamSpec("P")
T = TypeVar("T")


def core(request: web.Request) -> Services:
    return request.app[CORE_KEY]


async def run(request: web.Request, fn: Callable[P, T], *args: P.args,
              **kwargs: P.kwargs) -> T:
    """Call the synchronous store off the event loop, on the services' store pool
    (`Services.run`)."""
    return await core(request).run(fn, *args, **kwargs)


def json_response(data: Any, status: int = 200) -> web.Response:
    """UTF-8 JSON (orjson: several times faster than `json.dumps` for a folder list or a
    message page; anything it refuses, such as integers beyond 64 bits, goes the standard
    library's way)."""
    try:
        body = orjson.dumps(data)
    except TypeError:
        body = json.dumps(data, ensure_ascii=False).encode()
    return web.Response(body=body, status=status, content_type="application/json")


# -- who is calling ------------------------------------------------------------------------------
async def require_user(request: web.Request) -> Principal:
    """The caller, from `Authorization: Bearer <JWT>` or `Basic` (user@domain:password), through
    the one front door (`rmail.web.auth`): the account is checked on every request."""
    return await authenticate(request)


async def require_admin(request: web.Request) -> Principal:
    """A global admin (`admin: true`)."""
    principal = await require_user(request)
    if not principal.admin:
        raise ApiError(403, "Admin privileges required")
    return principal


async def require_domain_admin(request: web.Request) -> Principal:
    """A global admin or the admin of some domains (`admin_domains`); which domains a
    request may touch is `managed_domain`'s answer."""
    principal = await require_user(request)
    if not principal.is_any_admin:
        raise ApiError(403, "Admin privileges required")
    return principal


def managed_domain(principal: Principal, requested: str | None) -> str:
    """The domain an admin request is about: the given one (normalised), or by default the
    caller's own domain when they administer it, else the first of their `admin_domains`;
    403 for a domain outside the caller's administration."""
    if requested:
        try:
            domain = normalize_domain(requested)
        except InvalidValue as exc:
            raise ApiError(400, str(exc)) from None
    elif principal.manages(principal.domain) or not principal.account.admin_domains:
        domain = principal.domain
    else:
        domain = principal.account.admin_domains[0]
    if not principal.manages(domain):
        raise ApiError(403, f"Domain {domain} is outside your administration")
    return domain


# -- request bodies ----------------------------------------------------------------------------
async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    length = request.content_length
    if length is not None and length > limit:
        raise ApiError(413, f"Request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"Request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: web.Request, *, allowed: Iterable[str],
                    limit: int = JSON_LIMIT) -> dict[str, Any]:
    """A JSON object body with no fields outside `allowed`."""
    raw = await read_body(request, limit)
    if not raw.strip():
        raise ApiError(400, "Request body must be a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "Invalid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Request body must be a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ApiError(400, f"Unknown field: {unknown[0]}")
    return data


_MISSING = object()


def _get(body: dict[str, Any], name: str, required: bool) -> Any:
    value = body.get(name, _MISSING)
    if value is _MISSING:  # null is a value of the wrong type, not an absent field
        if required:
            raise ApiError(400, f"Missing field: {name}")
        return _MISSING
    return value


def get_str(body: dict[str, Any], name: str, *, required: bool = False,
            default: str | None = None, max_length: int = 10_000) -> str | None:
    value = _get(body, name, required)
    if value is _MISSING:
        return default
    if not isinstance(value, str):
        raise ApiError(400, f"Field {name} must be a string")
    if len(value) > max_length:
        raise ApiError(400, f"Field {name} is longer than {max_length} characters")
    return value


def get_bool(body: dict[str, Any], name: str, *, default: bool | None = None) -> bool | None:
    value = _get(body, name, False)
    if value is _MISSING:
        return default
    if not isinstance(value, bool):
        raise ApiError(400, f"Field {name} must be true or false")
    return value


def get_int(body: dict[str, Any], name: str, *, default: int | None = None,
            lo: int | None = None, hi: int | None = None) -> int | None:
    value = _get(body, name, False)
    if value is _MISSING:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"Field {name} must be an integer")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ApiError(400, f"Field {name} must be between {lo} and {hi}")
    return value


def get_str_list(body: dict[str, Any], name: str, *, required: bool = False,
                 max_items: int = 1000, max_length: int = 1000) -> list[str]:
    """A list of strings."""
    value = _get(body, name, required)
    if value is _MISSING:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"Field {name} must be a list of strings")
    if len(value) > max_items:
        raise ApiError(400, f"Field {name} has more than {max_items} items")
    if any(len(v) > max_length for v in value):
        raise ApiError(400, f"An item of {name} is longer than {max_length} characters")
    return value


# -- query and path parameters -------------------------------------------------------------------
def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ApiError(400, f"Parameter {name} must be an integer") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"Parameter {name} must be between {lo} and {hi}")
    return value


def query_bool(request: web.Request, name: str) -> bool:
    """`?name=true|false` (any case), false when absent; anything else is a 400."""
    raw = request.query.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise ApiError(400, f"Parameter {name} must be true or false")
    return raw == "true"


def folder_name(raw: str) -> str:
    """A folder name from a URL (already percent-decoded by the router): `/` separates levels,
    any Unicode is allowed; `.`/`..` levels are refused outright. Folder names are keys of
    the user's folder list and never reach the filesystem, so this is about clear answers."""
    for part in unicodedata.normalize("NFC", raw).split(SEPARATOR):
        if part in (".", ".."):
            raise ApiError(400, "Folder name must not contain '.' or '..' levels")
    return canonical_name(raw)
