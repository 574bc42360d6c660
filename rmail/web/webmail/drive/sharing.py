"""The owner's share pages: `/webmail/drive/{path}/_share` (make a public link to one entry,
see and revoke its links) and `/webmail/drive/_shared` (every link of the user), with the
revoke target `/webmail/drive/_shared/_revoke`."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from rmail.store.drive import DrivePath, Share
from rmail.store.drive.shares import PERMISSIONS, parse_permissions
from rmail.store.errors import InvalidValue, StoreError
from rmail.web.errors import HttpError, status_for
from rmail.web.keys import DRIVES_KEY
from rmail.web.webmail.context import Page
from rmail.web.webmail.drive.links import Links
from rmail.web.webmail.drive.manager import NOTICES, PERM_NAMES, Pane, expiry_texts, rel_path
from rmail.web.webmail.drive.routing import SharedList

__all__ = ["parse_expiry", "share_page", "shared_list"]


def parse_expiry(value: str, tz: dt.tzinfo) -> float | None:
    """The form's `expires` (`<input type="datetime-local">` or a date, in the user's time
    zone) as Unix seconds; empty: never."""
    value = value.strip()
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue("The expiry must be a date and time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    if when.timestamp() <= dt.datetime.now(dt.UTC).timestamp():
        raise InvalidValue("The expiry must be in the future")
    return when.timestamp()


async def share_page(page: Page, pane: Pane, path: DrivePath) -> web.StreamResponse:
    user = page.user
    shares = page.request.app[DRIVES_KEY].shares
    entry = await page.run(pane.drive.stat, path)
    error = None
    status = 200
    form = {"name": "", "permissions": "R", "expires": ""}
    if page.request.method == "POST":
        letters = "".join(page.form.getall("permissions", []))
        form = {"name": str(page.form.get("name", "")).strip(),
                "permissions": letters, "expires": str(page.form.get("expires", ""))}
        try:
            permissions = parse_permissions(letters + "R")
            expires = parse_expiry(form["expires"], page.tz)
            await page.run(shares.create, user.domain, user.username, path,
                           name=form["name"] or None, permissions=permissions,
                           expires=expires)
        except StoreError as exc:
            status, error, _ = status_for(exc)
        else:
            raise page.redirect(pane.links.action("_share", str(path), done="shared"))
    mine = await page.run(shares.list, user.domain, user.username)
    here = [s for s in mine if s.target_path == str(path)]
    return await page.render("drive/share.html", status=status, title=f"Share {entry.name}",
                             area="drive", pane=pane, entry=entry, rel=str(path), shares=here,
                             form=form, letters=PERMISSIONS, error=error, notices=NOTICES,
                             perm_names=PERM_NAMES, expiry=expiry_texts(page, here))


async def shared_list(page: Page, route: SharedList) -> web.StreamResponse:
    user = page.user
    shares = page.request.app[DRIVES_KEY].shares
    links = Links(page.url)
    if route.revoke:
        if page.request.method != "POST":
            raise page.redirect(links.shared())
        uid = str(page.form.get("uid", ""))
        await page.run(shares.delete, user.domain, user.username, uid)
        back = str(page.form.get("back", ""))
        if back:
            raise page.redirect(links.action("_share", str(rel_path(back)), done="revoked"))
        raise page.redirect(links.shared(done="revoked"))
    if page.request.method == "POST":
        raise HttpError(405, "Use one of the page's forms")
    mine: list[Share] = await page.run(shares.list, user.domain, user.username)
    return await page.render("drive/shared.html", title="Shared links", area="shared",
                             shares=mine, links=links, csrf=page.csrf, perm_names=PERM_NAMES,
                             expiry=expiry_texts(page, mine))
