"""The owner's pages: the file manager over the whole drive, rename/move, and the dispatch of
the owner's form targets (upload, new folder, delete; sharing lives in `sharing`). Every
handler runs inside `@view()` (session and CSRF already checked)."""

from __future__ import annotations

from aiohttp import web

from rmail.store.drive import ROOT, Rules
from rmail.store.errors import StoreError
from rmail.store.usage import drive_quota
from rmail.web.errors import HttpError, status_for
from rmail.web.keys import DRIVES_KEY
from rmail.web.webmail.context import Page, view
from rmail.web.webmail.drive import sharing
from rmail.web.webmail.drive.links import Links
from rmail.web.webmail.drive.manager import Pane, delete, mkdir, rel_path, show, upload
from rmail.web.webmail.drive.model import Permissions
from rmail.web.webmail.drive.routing import OwnerPage, SharedList

__all__ = ["ROUTE_KEY", "owner_pane", "owner_view"]

# the decided route, put on the request by the dispatcher
ROUTE_KEY = web.RequestKey("drive_route", object)


async def owner_pane(page: Page) -> Pane:
    """The owner's whole drive, with the quota shown in `.drive-quota`."""
    user = page.user
    drives = page.request.app[DRIVES_KEY]

    def load() -> Pane:
        drive = drives.drive(user.domain, user.username)
        quota = drive_quota(page.services.mail, user.domain, user.username,
                            user.account.quota_bytes)
        return Pane(drive, ROOT, "Drive", Links(page.url), Permissions(), Rules(quota=quota),
                    page.csrf, used=quota.other_bytes + drive.usage_bytes(),
                    limit=quota.limit_bytes)

    return await page.run(load)


@view()
async def owner_view(page: Page) -> web.StreamResponse:
    route = page.request[ROUTE_KEY]
    if isinstance(route, SharedList):
        return await sharing.shared_list(page, route)
    assert isinstance(route, OwnerPage)
    pane = await owner_pane(page)
    post = page.request.method == "POST"
    action = route.action
    if action is None:
        if post:
            raise HttpError(405, "Use one of the page's forms")
        return await show(page, pane, route.path)
    if action == "_share":
        return await sharing.share_page(page, pane, route.path)
    if action == "_rename":
        return await rename(page, pane, route)
    if not post:
        raise page.redirect(pane.links.entry(str(route.path)))
    if action == "_upload":
        return await upload(page, pane, route.path, await page.multipart())
    if action == "_mkdir":
        return await mkdir(page, pane, route.path)
    return await delete(page, pane, route.path)


async def rename(page: Page, pane: Pane, route: OwnerPage) -> web.StreamResponse:
    """Rename or move an entry: `to` is its new path from the drive root (an existing entry
    there is never replaced)."""
    src = route.path
    if src.is_root:
        raise HttpError(400, "The drive root cannot be renamed")
    entry = await page.run(pane.drive.stat, src)
    error = None
    status = 200
    to = str(src)
    if page.request.method == "POST":
        to = str(page.form.get("to", "")).strip()
        try:
            dst = rel_path(to)
            if dst.is_root:
                raise HttpError(400, "Give the new name")
            await page.run(pane.drive.move, src, dst, rules=pane.rules, overwrite=False)
        except (StoreError, HttpError) as exc:
            status, error, _ = status_for(exc)
            if status == 412:
                status, error = 409, f"{to} already exists"
        else:
            raise page.redirect(pane.links.entry(str(dst.parent), done="renamed"))
    return await page.render("drive/rename.html", status=status, title=f"Rename {entry.name}",
                             area="drive", pane=pane, entry=entry, rel=str(src), to=to,
                             error=error)
