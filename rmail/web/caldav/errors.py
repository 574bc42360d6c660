"""DAV failures by name, and the one table that maps every failure to a DAV response.

Handlers raise `DavError` for their own refusals and let the store's named errors propagate;
`dav_response_for` turns either into a status with, where RFC 4791/4918/6352/6578 name one, a
precondition element (`<D:error><C:valid-calendar-data/></D:error>`) and a readable reason.
These responses are XML or plain text built here: the JSON API's error middleware never
rewrites them (it only handles exceptions, and DAV handlers return responses).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

from aiohttp import web

from rmail.auth import AuthError
from rmail.ical.parse import InvalidCalendar
from rmail.ical.vcard import InvalidVCard
from rmail.store import errors as store
from rmail.store.davstore import InvalidSyncToken, UidConflict
from rmail.web.auth import BASIC_CHALLENGE
from rmail.web.caldav import xml
from rmail.web.caldav.xml import XmlError
from rmail.web.errors import HttpError, status_for, store_status

log = logging.getLogger("rmail.caldav")

__all__ = ["DavError", "dav_response_for", "error_response"]


class DavError(HttpError):
    """A refusal with its status, reason and optional precondition element."""

    def __init__(self, status: int, message: str, condition: ET.Element | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)
        self.condition = condition


def error_response(status: int, message: str, condition: ET.Element | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    if condition is not None:
        body = xml.serialize(xml.error(condition, message))
        resp = web.Response(status=status, body=body, content_type="application/xml",
                            charset="utf-8")
    else:
        resp = web.Response(status=status, text=message + "\n", content_type="text/plain")
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _condition(tag: str, *children: ET.Element) -> ET.Element:
    return xml.elem(tag, None, *children)


def dav_response_for(exc: BaseException, *, calendar: bool = True,
                     href_of: object = None) -> web.Response:
    """The response for any failure; 500 hides the details (and logs them)."""
    if isinstance(exc, DavError):
        return error_response(exc.status, exc.message, exc.condition, exc.headers)
    if isinstance(exc, HttpError | AuthError):  # the front door's 401/429, with their headers
        status, message, headers = status_for(exc)
        if status == 401:
            headers = {"WWW-Authenticate": BASIC_CHALLENGE, **headers}
        return error_response(status, message, headers=headers)
    if isinstance(exc, XmlError):
        return error_response(400, str(exc))
    if isinstance(exc, InvalidCalendar):
        return error_response(400, str(exc), _condition(xml.c("valid-calendar-data")))
    if isinstance(exc, InvalidVCard):
        return error_response(400, str(exc), _condition(xml.cr("valid-address-data")))
    if isinstance(exc, InvalidSyncToken):
        return error_response(403, str(exc), _condition(xml.d("valid-sync-token")))
    if isinstance(exc, UidConflict):
        children = []
        if callable(href_of):
            children.append(xml.href(str(href_of(exc.existing))))
        tag = xml.c("no-uid-conflict") if calendar else xml.cr("no-uid-conflict")
        return error_response(403, str(exc), _condition(tag, *children))
    mapped = store_status(exc, _DAV_STATUS)
    if mapped is not None:
        return error_response(mapped, str(exc) or type(exc).__name__)
    log.exception("DAV request failed", exc_info=exc)
    return error_response(500, "Internal server error")


# Deliberate departures from the one table (`rmail.web.errors`): RFC 4918 §9.3.1 (MKCOL or
# MKCALENDAR on an existing resource: 405) and RFC 4918 §9.7.1 / RFC 4331 (507 Insufficient
# Storage when the quota is exceeded).
_DAV_STATUS: dict[type[Exception], int] = {
    store.AlreadyExists: 405,
    store.QuotaExceeded: 507,
}
