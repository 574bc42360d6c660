"""HTTP failures by name, and the one table that maps every failure to a status.

Handlers raise `HttpError(status, message)` (`ApiError` is the same class, its older name) for
their own refusals and let the store's named errors (`rmail.store.errors`) propagate. Every
HTTP area asks `status_for` which status a failure gets: the JSON API through
`rmail.web.middlewares.front` (a body ``{"error": "..."}``), the drive and CalDAV through their
own responders (DAV XML bodies), the webmail through its error page. The reference manual's
status table: 400 invalid JSON or validation, 401 missing or invalid credentials, 403 admin
required, 404 not found, 413 payload too large or quota exceeded, 429 rate limited, 500
internal.

A protocol passes `overrides` only where an RFC demands another status, and says so where it
does (CalDAV: RFC 4918 §9.3.1 405 for MKCOL on an existing resource, RFC 4918 §9.7.1 / RFC
4331 507 Insufficient Storage).
"""

from __future__ import annotations

from collections.abc import Mapping

from rmail.auth import AuthError
from rmail.store import errors as store
from rmail.store.drive import LockConflict, Locked, WriteRefused

__all__ = ["ApiError", "HttpError", "status_for", "store_status"]


class HttpError(Exception):
    """A refusal with its HTTP status; `message` is shown to the client as is."""

    def __init__(self, status: int, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


ApiError = HttpError

# Most specific class first: LockConflict is a Conflict; UnsafeName and InvalidValue are also
# ValueErrors.
_STORE_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (LockConflict, 423),      # RFC 4918 §11.3 Locked: only the drive raises these two
    (Locked, 423),
    (WriteRefused, 403),
    (store.NotFound, 404),
    (store.AlreadyExists, 409),
    (store.Conflict, 409),
    (store.PreconditionFailed, 412),
    (store.QuotaExceeded, 413),
    (store.UnsafeName, 400),
    (store.InvalidValue, 400),
)

LOCKED_MESSAGE = "Too many failed logins; try again later"


def store_status(exc: BaseException,
                 overrides: Mapping[type[Exception], int] | None = None) -> int | None:
    """The status of a store error (None for anything else); `overrides` first."""
    for cls, status in (overrides or {}).items():
        if isinstance(exc, cls):
            return status
    for cls, status in _STORE_STATUS:
        if isinstance(exc, cls):
            return status
    return None


def status_for(exc: BaseException, overrides: Mapping[type[Exception], int] | None = None
               ) -> tuple[int, str, dict[str, str]]:
    """(status, client message, extra headers) for a failure; 500 hides the details.

    An `AuthError` normally never gets here (`rmail.web.auth` turns it into an `HttpError`
    with the lockout's `Retry-After`); one that does gets the generic answer."""
    if isinstance(exc, HttpError):
        return exc.status, exc.message, exc.headers
    if isinstance(exc, AuthError):
        if exc.reason == "locked":
            return 429, LOCKED_MESSAGE, {}
        return 401, "Invalid credentials", {}
    status = store_status(exc, overrides)
    if status is not None:
        return status, str(exc) or type(exc).__name__, {}
    return 500, "Internal server error", {}
