"""Every drive failure becomes a response here, and only here (STYLE.md #3).

Handlers raise `DriveError(status, message)` for refusals of their own and let the store's
named errors propagate; `respond_error` picks the status. Bodies are `{"error": "..."}` like
the rest of the HTTP API (WebDAV clients read only the status), except the RFC 4918
precondition codes, which travel as a `DAV:error` XML body for WebDAV requests.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web

from rmail.auth import AuthError
from rmail.store import errors as store
from rmail.store.drive import WriteRefused
from rmail.store.drivelocks import LockConflict

__all__ = ["BASIC_CHALLENGE", "DriveError", "respond_error"]

log = logging.getLogger("rmail.web.drive")

BASIC_CHALLENGE = 'Basic realm="rmail drive", charset="UTF-8"'


class DriveError(Exception):
    """A refusal with its HTTP status; `condition` names an RFC 4918 precondition element
    (e.g. "lock-token-submitted") sent as XML to WebDAV clients."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None,
                 condition: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.condition = condition


# Most specific first: LockConflict is a Conflict, UnsafeName and InvalidValue are ValueErrors.
_STORE_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (LockConflict, 423),
    (WriteRefused, 403),
    (store.NotFound, 404),
    (store.AlreadyExists, 409),
    (store.Conflict, 409),
    (store.PreconditionFailed, 412),
    (store.QuotaExceeded, 413),
    (store.UnsafeName, 400),
    (store.InvalidValue, 400),
)


def status_of(exc: BaseException) -> tuple[int, str, dict[str, str], str | None]:
    if isinstance(exc, DriveError):
        return exc.status, exc.message, exc.headers, exc.condition
    if isinstance(exc, AuthError):
        if exc.reason == "locked":
            return 429, "Too many failed logins; try again later", {"Retry-After": "60"}, None
        return 401, "Invalid credentials", {"WWW-Authenticate": BASIC_CHALLENGE}, None
    for cls, status in _STORE_STATUS:
        if isinstance(exc, cls):
            return status, str(exc) or cls.__name__, {}, None
    return 500, "Internal server error", {}, None


def respond_error(request: web.Request, exc: BaseException, *, dav: bool) -> web.Response:
    status, message, headers, condition = status_of(exc)
    if status == 500:
        log.error("%s %s failed", request.method, request.path, exc_info=exc)
    if dav and condition:
        body = ('<?xml version="1.0" encoding="utf-8"?>\n'
                f'<D:error xmlns:D="DAV:"><D:{condition}/></D:error>\n')
        return web.Response(status=status, text=body, content_type="application/xml",
                            charset="utf-8", headers=headers)
    return web.json_response({"error": message}, status=status, headers=headers)
