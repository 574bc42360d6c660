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

from rmail.web.errors import HttpError, status_for

__all__ = ["BASIC_CHALLENGE", "DriveError", "respond_error"]

log = logging.getLogger("rmail.web.drive")

BASIC_CHALLENGE = 'Basic realm="rmail drive", charset="UTF-8"'


class DriveError(HttpError):
    """A refusal with its HTTP status; `condition` names an RFC 4918 precondition element
    (e.g. "lock-token-submitted") sent as XML to WebDAV clients."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None,
                 condition: str | None = None) -> None:
        super().__init__(status, message, headers)
        self.condition = condition


def status_of(exc: BaseException) -> tuple[int, str, dict[str, str], str | None]:
    """The one table (`rmail.web.errors.status_for`), plus the drive's precondition element;
    a bare 401 gets the Basic challenge so WebDAV clients prompt."""
    status, message, headers = status_for(exc)
    if status == 401 and "WWW-Authenticate" not in headers:
        headers = {**headers, "WWW-Authenticate": BASIC_CHALLENGE}
    return status, message, headers, getattr(exc, "condition", None)


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
