"""The one middleware of the HTTP app (`front`), in this order:

- CORS: a preflight, or ``OPTIONS *``, is answered 204 when no route handles OPTIONS for that
  path (CalDAV and the drive register their own OPTIONS handlers and keep them);
  `add_cors_headers` (an `on_response_prepare` hook) puts the CORS headers on every response,
  errors, redirects and streamed bodies included.
- Rate limit: one token of the shared per-IP bucket (`Lockout.allow_request`) per request;
  trusted networks (loopback by default) are exempt.
- Errors: every failure becomes ``{"error": "..."}`` with the status from
  `rmail.web.errors.status_for`; a 500 is logged with its traceback and says nothing more.
  An `HTTPException` raised with a body of its own content type (XML from a DAV handler) is
  passed through untouched; aiohttp's plain-text ones (404 no route, 405, 413) become JSON.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from rmail.web.errors import ApiError, status_for
from rmail.web.keys import CONFIG_KEY, CORE_KEY

__all__ = ["CORS_HEADERS", "add_cors_headers", "error_response", "front"]

log = logging.getLogger("rmail.web")

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, PROPFIND, "
    "PROPPATCH, REPORT, MKCOL, MKCALENDAR, MOVE, COPY, LOCK, UNLOCK",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Depth, Destination, "
    "If-Match, If-None-Match, Overwrite, X-Requested-With",
    "Access-Control-Expose-Headers": "ETag, Location, Retry-After, WWW-Authenticate",
    "Access-Control-Max-Age": "86400",
}


def error_response(status: int, message: str,
                   headers: dict[str, str] | None = None) -> web.Response:
    response = web.json_response({"error": message}, status=status, headers=headers)
    if status == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = 'Bearer realm="rmail"'
    return response


def is_preflight(request: web.Request) -> bool:
    """Preflight and ``OPTIONS *``: answered 204 unless a route handles OPTIONS for the path."""
    return request.method == "OPTIONS" and request.match_info.http_exception is not None


_CORS_ITEMS = tuple(CORS_HEADERS.items())


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook: every response, streamed or not, error or not."""
    headers = response.headers
    if "Access-Control-Allow-Origin" not in headers:
        headers.extend(_CORS_ITEMS)
    else:  # a handler set some of them: fill in the rest
        for name, value in _CORS_ITEMS:
            headers.setdefault(name, value)


def error_for(request: web.Request, exc: Exception) -> web.Response:
    """The JSON error for an exception a handler raised (never a filesystem path)."""
    status, message, headers = status_for(exc)
    if status == 500:
        log.exception("%s %s failed", request.method, request.path)
    elif str(request.app[CONFIG_KEY].mail_root) in message:
        message = {404: "Not found"}.get(status, "Request failed")  # never show paths
    return error_response(status, message, headers)


def _extra_headers(exc: web.HTTPException) -> dict[str, str]:
    keep = ("Allow", "Retry-After", "WWW-Authenticate")
    return {k: v for k, v in exc.headers.items() if k in keep}


def check_rate(request: web.Request) -> None:
    """Spend one token of the caller's per-IP bucket; 429 when it is empty."""
    core = request.app.get(CORE_KEY)
    if core is not None and not core.lockout.allow_request(request.remote):
        per_minute = max(1, core.lockout.rate_per_minute)
        raise ApiError(429, "Rate limit exceeded",
                       {"Retry-After": str(max(1, -(-60 // per_minute)))})


@web.middleware
async def front(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS preflight, then the rate limit, then the handler, with every failure turned into
    JSON. One middleware rather than three: each layer costs a coroutine on every request."""
    if is_preflight(request):
        return web.Response(status=204)
    try:
        check_rate(request)
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type != "text/plain":
            raise
        message = exc.reason if exc.status != 413 else "Request body too large"
        return error_response(exc.status, message, _extra_headers(exc))
    except Exception as exc:
        return error_for(request, exc)
