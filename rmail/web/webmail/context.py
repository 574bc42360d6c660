"""What every webmail view needs: the session, CSRF, absolute URLs and rendering (`Page`), and
the one decorator (`view`) that wires them up and answers failures with an HTML page.

`@view()` on `async def handler(page: Page) -> web.StreamResponse`:
- requires a live session (else 303 to the login page with `next=` the page asked for);
  `@view(session=False)` for the login and registration pages;
- on POST, checks the CSRF token before the handler runs: the hidden `csrf` field of an
  urlencoded form (read into `page.form`), the first part of a multipart form (named `csrf`;
  the rest is left to `page.multipart`), or an `X-CSRF-Token` header for any other body
  (`body="raw"`, e.g. a text/calendar import). Missing or wrong: 403 and nothing changes;
- puts the security headers on every answer (CSP, nosniff, no framing, no referrer);
- turns `HttpError` and the store's named errors into an error page with the status from the
  one table (`rmail.web.errors.status_for`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from aiohttp import BodyPartReader, MultipartReader, web
from multidict import MultiDict, MultiDictProxy

from rmail.auth import Principal
from rmail.config import Config
from rmail.services import Services
from rmail.store.mailbox import UserMailbox
from rmail.store.sessions import Session
from rmail.web.auth import SESSION_COOKIE, session_principal
from rmail.web.errors import HttpError, status_for
from rmail.web.keys import CORE_KEY
from rmail.web.webmail import format as fmt
from rmail.web.webmail.headers import security_headers
from rmail.web.webmail.icons import icon
from rmail.web.webmail.rows import message_rows
from rmail.web.webmail.static import version_of
from rmail.web.webmail.urls import UrlBuilder, origin_of

if TYPE_CHECKING:
    import jinja2

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "Page", "csrf_for", "render_template", "view"]

log = logging.getLogger("rmail.webmail")

P = ParamSpec("P")
T = TypeVar("T")

CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_CSRF_COOKIE = "rmail_csrf"  # double-submit token of the login/registration forms
FORM_LIMIT = 1024 * 1024          # bytes of an urlencoded form

TEMPLATES = Path(__file__).with_name("templates")


@functools.cache
def _env() -> jinja2.Environment:
    """The template environment, made at the first page rather than at import: every worker
    imports the webmail, and jinja2 costs a process that never serves a page about 0.7 MB."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(fmt.FILTERS)
    env.globals["asset_version"] = version_of
    env.globals["message_rows"] = message_rows
    env.globals["icon"] = icon
    return env


def csrf_for(secret: str) -> str:
    """The CSRF token bound to a session id (or the login cookie): derived, never stored, and
    useless without the id it came from (which is HttpOnly)."""
    return hmac.new(secret.encode(), b"rmail-webmail-csrf", hashlib.sha256).hexdigest()


def render_template(name: str, **context: Any) -> str:
    return _env().get_template(name).render(**context)


class Page:
    """One webmail request: who, which session, the URL builder, the checked form."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.services: Services = request.app[CORE_KEY]
        self.config: Config = self.services.config
        self.url = UrlBuilder(origin_of(request, self.config))
        self.principal: Principal | None = None
        self.session: Session | None = None
        self._secret: str | None = None  # session id, or the login CSRF cookie
        self.form: MultiDictProxy[Any] = MultiDictProxy(MultiDict())
        self._multipart: MultipartReader | None = None
        self._sidebar: list[Any] | None = None
        self.new_cookie: tuple[str, str] | None = None

    # -- who ------------------------------------------------------------------------------------
    @property
    def user(self) -> Principal:
        if self.principal is None:
            raise HttpError(401, "Please log in")
        return self.principal

    @property
    def mailbox(self) -> UserMailbox:
        return self.services.mail.mailbox(self.user.domain, self.user.username)

    @property
    def csrf(self) -> str:
        """The value of every form's hidden `csrf` input on this page."""
        if self._secret is None:  # a page without a session: a login CSRF cookie of its own
            self._secret = secrets.token_urlsafe(24)
            self.new_cookie = (LOGIN_CSRF_COOKIE, self._secret)
        return csrf_for(self._secret)

    def preferences(self) -> dict[str, Any]:
        """The user's preferences.json (one stat when unchanged; do not mutate)."""
        if self.principal is None:
            return {}
        return self.services.preferences.get(self.principal.domain, self.principal.username)

    @property
    def tz(self) -> tzinfo:
        """The user's time zone (settings), else UTC."""
        return fmt.zone(self.preferences().get("timezone"))

    # -- work --------------------------------------------------------------------------------------
    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Store work off the event loop, on the process's store pool (`Services.run`)."""
        return await self.services.run(fn, *args, **kwargs)

    def query_int(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.request.query.get(name, "")
        try:
            value = int(raw) if raw.strip() else default
        except ValueError:
            raise HttpError(400, f"{name} must be a number") from None
        return min(max(value, lo), hi)

    async def multipart(self) -> MultipartReader:
        """The rest of a multipart form whose first part (`csrf`) was checked."""
        if self._multipart is None:
            raise HttpError(400, "Expected a multipart/form-data body")
        return self._multipart

    # -- answers -----------------------------------------------------------------------------------
    def redirect(self, path_or_url: str, **query: object) -> web.HTTPSeeOther:
        """A 303 to an absolute URL (`raise page.redirect("/webmail/INBOX")`)."""
        url = path_or_url if "://" in path_or_url else self.url(path_or_url, **query)
        return web.HTTPSeeOther(url)

    async def sidebar(self) -> list[Any]:
        """The folder tree with counts (cached for the request)."""
        if self._sidebar is None:
            from rmail.web.webmail import folders

            self._sidebar = await folders.sidebar(self)
        return self._sidebar

    async def render(self, template: str, *, status: int = 200, title: str = "",
                     **context: Any) -> web.Response:
        """A page extending `base.html` (which draws the sidebar when logged in)."""
        sidebar = await self.sidebar() if self.principal is not None else []
        text = render_template(template, page=self, title=title, sidebar=sidebar,
                               registration=self.config.webmail.registration.enabled,
                               **context)
        return web.Response(text=text, status=status, content_type="text/html",
                            charset="utf-8")


Body = Literal["form", "raw"]
Handler = Callable[[Page], Awaitable[web.StreamResponse]]


def view(*, session: bool = True, body: Body = "form") -> Callable[[Handler],
                                                                     Callable[[web.Request],
                                                                              Awaitable[web.StreamResponse]]]:
    """Wrap a webmail handler (see the module docstring)."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            page = Page(request)
            try:
                response = await _serve(page, handler, session, body)
            except web.HTTPException as exc:
                if exc.status >= 400 and exc.content_type == "text/plain":
                    response = await error_page(page, exc.status, exc.reason)
                else:
                    response = exc
            except Exception as exc:  # one place turns failures into pages
                response = await failure_page(page, exc)
            security_headers(response)
            if page.new_cookie is not None:
                name, value = page.new_cookie
                response.set_cookie(name, value, httponly=True, samesite="Lax", path="/",
                                    secure=request.secure)
            if isinstance(response, web.HTTPException):
                raise response
            return response

        return wrapped

    return wrap


async def _serve(page: Page, handler: Handler, session: bool, body: Body
                 ) -> web.StreamResponse:
    request = page.request
    found = session_principal(request)
    if found is not None:
        page.principal, page.session, page._secret = found
    elif session:
        raise login_redirect(page)
    else:
        page._secret = request.cookies.get(LOGIN_CSRF_COOKIE) or None
    if request.method == "POST":
        await _check_csrf(page, body)
    return await handler(page)


def login_redirect(page: Page) -> web.HTTPSeeOther:
    request = page.request
    target = request.rel_url.path_qs if request.method == "GET" else None
    return page.redirect("/webmail/login", next=target)


async def _check_csrf(page: Page, body: Body) -> None:
    """403 unless the request proves it comes from one of our pages (see module docstring)."""
    request = page.request
    expected = csrf_for(page._secret) if page._secret else None
    header = request.headers.get(CSRF_HEADER)
    if header is not None or body == "raw":
        _compare(expected, header)
        return
    ctype = request.content_type
    if ctype == "application/x-www-form-urlencoded":
        if request.content_length is not None and request.content_length > FORM_LIMIT:
            raise HttpError(413, "Form too large")
        try:
            page.form = await request.post()
        except (ValueError, UnicodeDecodeError):
            raise HttpError(400, "Malformed form") from None
        _compare(expected, page.form.get(CSRF_FIELD))
    elif ctype == "multipart/form-data":
        reader = await request.multipart()
        first = await reader.next()
        if not isinstance(first, BodyPartReader) or first.name != CSRF_FIELD:
            raise HttpError(403, "Form rejected: the security token must come first")
        token = (await first.read(decode=True))[:200].decode("ascii", "replace")
        _compare(expected, token)
        page._multipart = reader
    else:
        raise HttpError(403, "Form rejected: missing security token")


def _compare(expected: str | None, given: object) -> None:
    if expected is None or not isinstance(given, str) or \
            not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise HttpError(403, "Form rejected: missing or wrong security token (reload the page "
                             "and try again)")


async def error_page(page: Page, status: int, message: str,
                     headers: Mapping[str, str] | None = None) -> web.Response:
    response = await page.render("error.html", status=status, title=f"Error {status}",
                                 code=status, message=message)
    response.headers.update(headers or {})
    return response


async def failure_page(page: Page, exc: Exception) -> web.StreamResponse:
    status, message, headers = status_for(exc)
    if status == 401:
        if page.request.method == "GET":
            return login_redirect(page)
        return await error_page(page, 401, "Your session has ended; please log in again.")
    if status == 500:
        log.error("%s %s failed", page.request.method, page.request.path, exc_info=exc)
    elif str(page.config.mail_root) in message:
        message = "Not found" if status == 404 else "Request failed"
    try:
        return await error_page(page, status, message, headers)
    except Exception:  # the sidebar itself failed: a bare page
        log.exception("error page failed")
        return web.Response(text=f"Error {status}: {message}", status=status)


def session_cookie(response: web.StreamResponse, request: web.Request, session_id: str,
                   max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="Lax", path="/",
                        secure=request.secure, max_age=max_age)
