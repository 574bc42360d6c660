"""A visitor's view of a public share link: `/webmail/drive/{uid}/{name}[/{subpath}]`, no login.

The same file manager as the owner's, rooted at the shared folder (every path in the page is
share-relative), with only the controls the link's permissions allow: C new folder, U upload
files / upload folder, D delete below the root. The store re-checks the live share under the
drive lock on every write, so a forged form gets 403 and a link revoked meanwhile 404.

Cross-site posting: visitors have no session, so each form carries a token bound to the share
UID and to a random cookie of the visitor's browser (`rmail_share`, HttpOnly, SameSite=Lax,
only sent to `/webmail/drive/`): HMAC-SHA256(cookie, "rmail-drive-share:" + uid). Another site
can neither read the token nor make the browser send the cookie with its POST, and a token
taken from one share's page is worthless for another share.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import BodyPartReader, web

from rmail.store.drive import Rules
from rmail.store.errors import NotFound
from rmail.store.usage import drive_quota
from rmail.web.errors import HttpError
from rmail.web.keys import DRIVES_KEY
from rmail.web.webmail.context import CSRF_FIELD, FORM_LIMIT, Page, failure_page
from rmail.web.webmail.drive.links import Links, public_base
from rmail.web.webmail.drive.manager import Pane, delete, mkdir, show, upload
from rmail.web.webmail.drive.model import Permissions
from rmail.web.webmail.drive.routing import PublicPage
from rmail.web.webmail.headers import security_headers

__all__ = ["SHARE_COOKIE", "public_view", "share_csrf"]

SHARE_COOKIE = "rmail_share"


def share_csrf(secret: str, uid: str) -> str:
    return hmac.new(secret.encode(), b"rmail-drive-share:" + uid.encode(),
                    hashlib.sha256).hexdigest()


async def public_view(request: web.Request, route: PublicPage) -> web.StreamResponse:
    """The visitor's page, answered like every webmail page (security headers, error pages)."""
    page = Page(request)
    secret = request.cookies.get(SHARE_COOKIE) or ""
    fresh = None
    if len(secret) < 32 or len(secret) > 64:
        secret = fresh = secrets.token_urlsafe(32)
    try:
        response = await _serve(page, route, secret, from_cookie=fresh is None)
    except web.HTTPException as exc:
        response = exc
    except Exception as exc:
        response = await failure_page(page, exc)
    security_headers(response)
    if fresh is not None:
        response.set_cookie(SHARE_COOKIE, fresh, httponly=True, samesite="Lax",
                            path="/webmail/drive/", secure=request.secure)
    if isinstance(response, web.HTTPException):
        raise response
    return response


async def _serve(page: Page, route: PublicPage, secret: str, *,
                 from_cookie: bool) -> web.StreamResponse:
    share = route.share
    if route.name is None:  # `/webmail/drive/{uid}`: to the named form of the link
        raise web.HTTPFound(page.url(public_base(share.uid, share.name) + "/"))
    drives = page.request.app[DRIVES_KEY]

    def load() -> Pane:
        try:
            account = page.services.accounts.get(share.domain, share.username)
            drive = drives.drive(share.domain, share.username)
        except NotFound:
            raise NotFound("No such link") from None
        quota = drive_quota(page.services.mail, share.domain, share.username,
                            account.quota_bytes)
        return Pane(drive, share.target, share.name,
                    Links(page.url, public_base(share.uid, route.name or share.name)),
                    Permissions.of_share(share.permissions),
                    Rules(share=share.uid, quota=quota), share_csrf(secret, share.uid),
                    share=share)

    pane = await page.run(load)
    request = page.request
    if request.method not in ("POST",):
        if route.action is not None:
            raise page.redirect(pane.links.entry(str(route.sub)))
        return await show(page, pane, route.sub)
    if route.action is None:
        raise HttpError(405, "Use one of the page's forms")
    await _check_form(page, pane.csrf if from_cookie else None)
    if route.action == "_upload":
        return await upload(page, pane, route.sub, await page.multipart())
    if route.action == "_mkdir":
        return await mkdir(page, pane, route.sub)
    return await delete(page, pane, route.sub)


async def _check_form(page: Page, expected: str | None) -> None:
    """The per-share token: the `csrf` field of an urlencoded form, or the first part of a
    multipart one (the rest is left for `page.multipart()`). 403 when missing or wrong."""
    request = page.request
    given: object = None
    if request.content_type == "application/x-www-form-urlencoded":
        if request.content_length is not None and request.content_length > FORM_LIMIT:
            raise HttpError(413, "Form too large")
        page.form = await request.post()
        given = page.form.get(CSRF_FIELD)
    elif request.content_type == "multipart/form-data":
        reader = await request.multipart()
        first = await reader.next()
        if isinstance(first, BodyPartReader) and first.name == CSRF_FIELD:
            given = (await first.read(decode=True))[:200].decode("ascii", "replace")
        page._multipart = reader
    if expected is None or not isinstance(given, str) or \
            not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise HttpError(403, "Form rejected: missing or wrong security token (reload the page "
                             "and try again)")
