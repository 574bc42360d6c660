"""The one HTTP authentication front door: a request in, a `Principal` out.

Every HTTP area (JSON API, drive, CalDAV/CardDAV, webmail) calls `authenticate` and nothing
else checks credentials, so they all behave alike:

- `Authorization: Basic` (user@domain or a bare name in the default domain, and the password)
  and `Authorization: Bearer <JWT>` (`rmail.auth.tokens`); with `cookie=True` also the webmail
  session cookie `rmail_session` (`rmail.store.sessions`) when no Authorization header is sent
  (only on read-only routes, and only from the webmail's own origin: `cross_site`).
- Password logins go through `rmail.auth.Authenticator` and count toward the shared per-IP
  lockout; a locked IP gets 429 with `Retry-After` computed from the lockout (never a fixed
  figure), in every area.
- A verified token's claims are cached (`_TokenCache`): checking an HS256 signature costs more
  than the rest of a small request. The account is checked on every request anyway (one `stat`,
  on the loop): it must exist, be enabled and carry the auth epoch the token or session was
  issued under (a password change bumps it, ending tokens and sessions alike).
- An empty login (`Basic` of ":password" or of nothing) is malformed: 401 without counting a
  failure, the same in every area.

Failures are `HttpError`s: 401 carries `WWW-Authenticate` with the caller's `challenge` (Basic
for DAV clients, which prompt for a password on it; Bearer for the JSON API); each area maps
`HttpError` to its own body (JSON, DAV text/XML, an HTML page).
"""

from __future__ import annotations

import base64
import binascii
import time
from urllib.parse import urlsplit

from aiohttp import web

from rmail.auth import MASTER, AuthError, LoginInfo, Principal
from rmail.auth.tokens import TokenClaims, TokenError, decode_token
from rmail.services import Services
from rmail.store.errors import InvalidValue, NotFound
from rmail.store.events import Change
from rmail.store.sessions import Session
from rmail.web.errors import LOCKED_MESSAGE, HttpError
from rmail.web.keys import CORE_KEY

__all__ = [
    "BASIC_CHALLENGE",
    "BEARER_CHALLENGE",
    "SESSION_CHANGE",
    "SESSION_COOKIE",
    "SecondFactorRequired",
    "authenticate",
    "cross_site",
    "locked_error",
    "password_login",
    "session_principal",
    "sessions_changed",
]

BASIC_CHALLENGE = 'Basic realm="rmail", charset="UTF-8"'
BEARER_CHALLENGE = 'Bearer realm="rmail"'
SESSION_COOKIE = "rmail_session"
SESSION_CHANGE = "session"  # the `Change.kind` of a logout or password change
_MAX_HEADER = 16 * 1024


def _unauthorized(message: str, challenge: str) -> HttpError:
    return HttpError(401, message, {"WWW-Authenticate": challenge})


def locked_error(services: Services, ip: str | None) -> HttpError:
    """429 for a locked-out IP, `Retry-After` from the lockout itself."""
    wait = services.lockout.retry_after(ip or "")
    return HttpError(429, LOCKED_MESSAGE, {"Retry-After": str(max(1, wait))})


class SecondFactorRequired(HttpError):
    """The password was right; the account has two-factor on and no `token` came with it."""

    def __init__(self, principal: Principal) -> None:
        super().__init__(401, "A second factor is required: send the TOTP or recovery code "
                              "as token")
        self.principal = principal


async def authenticate(request: web.Request, *, challenge: str = BEARER_CHALLENGE,
                       cookie: bool = False, scope: str = "api") -> Principal:
    """The caller of `request`, or HttpError 401/429. `scope` is the application-password
    scope of the area (`api`, `caldav`, `dav`) that Basic credentials must carry."""
    services = request.app[CORE_KEY]
    header = request.headers.get("Authorization", "").strip()
    if not header:
        if cookie:
            found = session_principal(request)
            if found is not None:
                if cross_site(request):
                    raise HttpError(403, "The session cookie is only accepted from the "
                                         "webmail's own pages")
                return found[0]
        raise _unauthorized("Authentication required", challenge)
    if len(header) > _MAX_HEADER:
        raise _unauthorized("Authorization header too long", challenge)
    scheme, _, credentials = header.partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme == "bearer" and credentials:
        return _from_token(services, credentials, challenge)
    if scheme == "basic" and credentials:
        login, password = _basic(credentials, challenge)
        return await password_login(request, login, password, challenge=challenge,
                                    scope=scope)
    raise _unauthorized("Unsupported authorization scheme (use Basic or Bearer)", challenge)


def _basic(credentials: str, challenge: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized("Malformed Basic credentials", challenge) from None
    login, sep, password = decoded.partition(":")
    if not sep or not login.strip():
        raise _unauthorized("Malformed Basic credentials", challenge)
    return login, password


async def password_login(request: web.Request, login: str, password: str, *,
                         domain: str | None = None,
                         challenge: str = BEARER_CHALLENGE, scope: str = MASTER,
                         token: str | None = None, protocol: str | None = None) -> Principal:
    """A password login from this request's IP: counts toward the shared lockout; a locked IP
    gets 429 with `Retry-After`, wrong credentials 401. `scope` `master` (the default: a login
    to the account itself, `POST /auth/login` and webmail) takes only the account's password
    and, with two-factor on, `token` (else `SecondFactorRequired`); a protocol scope also
    takes application passwords of that scope."""
    services = request.app[CORE_KEY]
    if not login.strip():
        raise _unauthorized("Malformed credentials: empty login", challenge)
    info = LoginInfo(protocol or scope, request.headers.get("User-Agent", "")[:200])
    try:
        return await services.auth.authenticate(login, password, ip=request.remote,
                                                domain=domain, scope=scope, token=token,
                                                info=info)
    except AuthError as exc:
        if exc.reason == "locked":
            raise locked_error(services, request.remote) from None
        if exc.reason == "second_factor":
            assert exc.account is not None
            raise SecondFactorRequired(Principal(exc.account)) from None
        if exc.reason in ("2fa", "scope", "token"):
            raise _unauthorized(str(exc).capitalize(), challenge) from None
        raise _unauthorized("Invalid credentials", challenge) from None


# -- tokens -------------------------------------------------------------------------------------
class _TokenCache:
    """(secret, token) -> claims of tokens whose signature was verified."""

    MAX = 10_000

    def __init__(self) -> None:
        self._claims: dict[tuple[str, str], TokenClaims] = {}

    def claims(self, secret: str, token: str, challenge: str) -> TokenClaims:
        claims = self._claims.get((secret, token))
        if claims is None:
            try:
                claims = decode_token(secret, token)
            except TokenError as exc:
                message = "Token expired" if "expired" in str(exc) else "Invalid token"
                raise _unauthorized(message, challenge) from None
            if len(self._claims) >= self.MAX:
                self._claims.clear()
            self._claims[(secret, token)] = claims
        elif claims.expires <= time.time():
            raise _unauthorized("Token expired", challenge)
        return claims


_TOKENS = _TokenCache()


def _from_token(services: Services, token: str, challenge: str) -> Principal:
    claims = _TOKENS.claims(services.config.exchange_api.secret, token, challenge)
    try:
        # One stat on the loop (the parsed account is cached): cheaper than a thread hop.
        account = services.accounts.get_current(claims.domain, claims.username)
    except (NotFound, InvalidValue):
        raise _unauthorized("Invalid token", challenge) from None
    if account.auth_epoch != claims.epoch or not account.enabled:
        raise _unauthorized("Token no longer valid", challenge)
    return Principal(account)


# -- webmail sessions ------------------------------------------------------------------------
def cross_site(request: web.Request) -> bool:
    """Whether a browser sent this request from another origin's page. The cookie is
    SameSite=Lax and the CORS headers never allow credentials, so another site could not read
    an answer anyway; refusing it also keeps other origins of the same site (another port of
    this host) from holding streams open on the user's session. `Sec-Fetch-Site` when the
    browser sends it (all current ones do), else `Origin` against `Host`."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site.strip().lower() not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return urlsplit(origin.strip()).netloc.lower() != request.host.lower()


def sessions_changed(services: Services, domain: str, username: str) -> None:
    """Tell the account's open update streams (in every worker, over the change bus) to check
    their credentials now: a logout or password change ends them at once, not at the next
    heartbeat."""
    services.events.publish(Change(domain, username, SESSION_CHANGE))


def session_principal(request: web.Request) -> tuple[Principal, Session, str] | None:
    """(principal, session, session id) from the `rmail_session` cookie, or None when there is
    no live session. A session whose account is gone, disabled or has a newer auth epoch (a
    password change) is ended here. One or two `stat`s: runs on the loop."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    services = request.app[CORE_KEY]
    sessions = services.sessions
    session = sessions.lookup(session_id)
    if session is None:
        return None
    try:
        account = services.accounts.get_current(session.domain, session.username)
    except (NotFound, InvalidValue):
        account = None
    if account is None or not account.enabled or account.auth_epoch != session.epoch:
        sessions.end(session_id)
        return None
    return Principal(account), session, session_id
