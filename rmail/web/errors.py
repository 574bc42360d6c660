"""HTTP failures by name, and the one table that maps every failure to a status.

Handlers raise `ApiError(status, message)` for their own refusals and let the store's named
errors (`rmail.store.errors`) propagate; `rmail.web.middlewares.front` turns either into a JSON
body ``{"error": "..."}`` with the status chosen here. The reference manual's status table:
400 invalid JSON or validation, 401 missing or invalid credentials, 403 admin required,
404 not found, 413 payload too large or quota exceeded, 429 rate limited, 500 internal.
"""

from __future__ import annotations

from collections.abc import Mapping

from rmail.auth import AuthError
from rmail.store import errors as store

__all__ = ["ApiError", "status_for"]


class ApiError(Exception):
    """A refusal with its HTTP status; `message` is shown to the client as is."""

    def __init__(self, status: int, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


# Most specific class first: UnsafeName and InvalidValue are also ValueErrors.
_STORE_STATUS: tuple[tuple[type[store.StoreError], int], ...] = (
    (store.NotFound, 404),
    (store.AlreadyExists, 409),
    (store.Conflict, 409),
    (store.PreconditionFailed, 412),
    (store.QuotaExceeded, 413),
    (store.UnsafeName, 400),
    (store.InvalidValue, 400),
)


def status_for(exc: BaseException) -> tuple[int, str, dict[str, str]]:
    """(status, client message, extra headers) for a failure; 500 hides the details."""
    if isinstance(exc, ApiError):
        return exc.status, exc.message, exc.headers
    if isinstance(exc, AuthError):
        if exc.reason == "locked":
            return 429, "Too many failed logins; try again later", {}
        return 401, "Invalid credentials", {}
    if isinstance(exc, store.StoreError):
        for cls, status in _STORE_STATUS:
            if isinstance(exc, cls):
                return status, str(exc) or cls.__name__, {}
    return 500, "Internal server error", {}
