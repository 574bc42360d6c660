"""The webmail's drive: the owner's file manager (`/webmail/drive/...`), the share pages
(`/webmail/drive/{path}/_share`, `/webmail/drive/_shared`) and a visitor's view of a public
share link (`/webmail/drive/{uid}/{name}[/{subpath}]`). `routing` decides which one a URL
names (and writes down what wins where a share UID and an owner's path look alike); `manager`
is the file manager both share; `model` and `kinds` are pure.

`setup_drive_pages(app)` mounts one handler for `/webmail/drive` and everything below it.
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from rmail.store.drive import Share
from rmail.store.drive.shares import UID_RE
from rmail.store.errors import NotFound, StoreError
from rmail.web.auth import session_principal
from rmail.web.errors import HttpError
from rmail.web.keys import DRIVES_KEY
from rmail.web.webmail.context import Page, view
from rmail.web.webmail.drive.owner import ROUTE_KEY, owner_view
from rmail.web.webmail.drive.public import public_view
from rmail.web.webmail.drive.routing import DeadLink, PublicPage, route

__all__ = ["setup_drive_pages"]

PREFIX = "/webmail/drive"


def setup_drive_pages(app: web.Application) -> None:
    for path in (PREFIX, PREFIX + "/{tail:.*}"):
        app.router.add_get(path, dispatch)  # and HEAD
        app.router.add_post(path, dispatch)


def _segments(raw: str) -> list[str]:
    """The components after `/webmail/drive/`, each percent-decoded on its own."""
    tail = raw[len(PREFIX):].strip("/")
    out = []
    for seg in tail.split("/") if tail else []:
        try:
            name = unquote(seg, errors="strict")
        except UnicodeDecodeError:
            raise HttpError(400, "The path is not valid UTF-8") from None
        if not name:
            raise HttpError(400, "The path has an empty component")
        out.append(name)
    return out


async def dispatch(request: web.Request) -> web.StreamResponse:
    try:
        segments = _segments(request.rel_url.raw_path)
        live: dict[str, Share] = {}
        if segments and UID_RE.fullmatch(segments[0]):
            shares = request.app[DRIVES_KEY].shares
            try:
                page = Page(request)
                live[segments[0]] = await page.run(shares.resolve, segments[0])
            except NotFound:
                pass
        decided = route(segments, logged_in=session_principal(request) is not None,
                        live_share=live.get)
    except (StoreError, HttpError) as exc:
        return await _failed(request, exc)
    if isinstance(decided, PublicPage):
        return await public_view(request, decided)
    if isinstance(decided, DeadLink):
        return await _failed(request, HttpError(404, "This link does not exist (any more)"))
    request[ROUTE_KEY] = decided
    return await owner_view(request)


async def _failed(request: web.Request, exc: Exception) -> web.StreamResponse:
    """An error page for a URL that names nothing (no session needed to see it)."""

    @view(session=False, body="raw")
    async def fail(page: Page) -> web.StreamResponse:
        raise exc

    if request.method == "POST":  # no form is read for a page that does not exist
        request = request.clone(method="GET")
    return await fail(request)
