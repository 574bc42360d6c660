"""The file manager both kinds of page share: the owner's drive and a visitor's share link.

A `Pane` says whose drive, which folder is its root (the drive root, or the shared folder),
what may be done there and how the request's writes are judged (`Rules`: the owner, or the
share link, re-checked by the store under the drive lock). The actions here take paths
relative to that root from the page's forms and never let one escape it: each passes the
drive's name gate and is joined below the root.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import MultipartReader, web

from rmail.store.drive import DrivePath, Rules, Share, UserDrive
from rmail.store.errors import StoreError
from rmail.web.errors import HttpError, status_for
from rmail.web.uploads import store_form_files
from rmail.web.webmail import format as fmt
from rmail.web.webmail.context import Page
from rmail.web.webmail.drive.files import send_file
from rmail.web.webmail.drive.kinds import ICONS
from rmail.web.webmail.drive.links import Links
from rmail.web.webmail.drive.model import PAGE_SIZE, Permissions, grid
from rmail.web.webmail.drive.tiles import tiles_html
from rmail.web.webmail.static import version_of

__all__ = ["MAX_SELECTION", "NOTICES", "PERM_NAMES", "Pane", "delete", "expiry_texts", "mkdir",
           "rel_path", "show", "upload"]

MAX_SELECTION = 5000

# `?done=` after a form (a fixed word, never text from the URL shown as is)
NOTICES = {"uploaded": "Uploaded.", "created": "Folder created.", "deleted": "Deleted.",
           "renamed": "Renamed.", "shared": "Link created.", "revoked": "Link revoked."}
PERM_NAMES = {"R": "Read (always)", "C": "Create files and folders",
              "U": "Upload and overwrite files", "D": "Delete below the shared folder"}


@dataclass(frozen=True)
class Pane:
    drive: UserDrive
    root: DrivePath            # what this view can reach
    root_name: str             # the first crumb: "Drive", or the share's name
    links: Links
    perms: Permissions
    rules: Rules               # how its writes are judged (owner, or the share link)
    csrf: str                  # the value of every form's `csrf` field
    share: Share | None = None
    used: int | None = None    # quota shown to the owner (bytes)
    limit: int | None = None

    def target(self, rel: DrivePath) -> DrivePath:
        return self.root.join(rel)


def rel_path(value: object) -> DrivePath:
    """A path from a form, relative to the view's root (the name gate on every component)."""
    if not isinstance(value, str) or len(value) > 4096:
        raise HttpError(400, "Bad path")
    return DrivePath.parse(value.strip("/"))


async def show(page: Page, pane: Pane, rel: DrivePath, *, status: int = 200,
               error: str | None = None) -> web.StreamResponse:
    """A folder's grid (one page of it), or the file itself."""
    target = pane.target(rel)
    entry = await page.run(pane.drive.stat, target)
    if not entry.is_dir:
        return await send_file(page, pane.drive, target,
                               download=page.request.query.get("download") == "1")
    offset = page.query_int("offset", 0, 0, 1 << 40)
    info = await page.run(pane.drive.listdir, target, offset=offset, limit=PAGE_SIZE)
    model = grid(info, pane.root, root_name=pane.root_name, offset=offset)
    tz = page.tz
    when = {}
    for t in model.tiles:
        moment = fmt.to_datetime(t.mtime, tz)
        when[t.rel] = (moment.isoformat() if moment else "", fmt.list_date(moment))
    perms = pane.perms
    icons = {kind: page.url(f"/webmail/static/{name}", v=version_of(name))
             for kind, name in ICONS.items()}
    tiles = tiles_html(model, pane.links.entry("").rstrip("/"), select=perms.delete,
                       delete=perms.delete, owner=perms.owner, when=when, icons=icons)
    return await page.render("drive/browse.html", status=status, title=model.crumbs[-1].name,
                             area="drive", g=model, pane=pane, error=error, tiles=tiles,
                             notices=NOTICES)


async def upload(page: Page, pane: Pane, rel: DrivePath,
                 reader: MultipartReader) -> web.StreamResponse:
    """The upload-files / upload-folder forms: every file part lands below `rel` (a part's
    filename may carry the relative path of a folder upload), all committed at once."""
    if not pane.perms.upload:
        raise HttpError(403, "This link does not allow uploads")
    length = page.request.content_length
    quota = pane.rules.quota
    if quota is not None and length is not None:
        await page.run(pane.drive.check_room, length, quota, pane.target(rel))
    try:
        stored = await store_form_files(reader, pane.drive, pane.target(rel), pane.rules,
                                        page.run)
    except StoreError as exc:
        status = status_for(exc)[0]
        if status in (403, 404):
            raise
        return await show(page, pane, rel, status=status, error=str(exc))
    raise page.redirect(pane.links.entry(str(rel), done="uploaded", n=len(stored)))


async def mkdir(page: Page, pane: Pane, rel: DrivePath) -> web.StreamResponse:
    """The new-folder form: `name` may be nested (`a/b/c`); missing parents are made."""
    if not pane.perms.create:
        raise HttpError(403, "This link does not allow new folders")
    name = page.form.get("name", "")
    try:
        below = rel_path(name)
        if below.is_root:
            raise HttpError(400, "Give the folder a name")
        await page.run(pane.drive.mkdir, pane.target(rel).join(below), rules=pane.rules,
                       parents=True, exist_ok=False)
    except (StoreError, HttpError) as exc:
        status, message, _ = status_for(exc)
        if status in (403, 404):
            raise
        return await show(page, pane, rel, status=status, error=message)
    raise page.redirect(pane.links.entry(str(rel), done="created"))


async def delete(page: Page, pane: Pane, rel: DrivePath) -> web.StreamResponse:
    """Per-tile and bulk delete. Without `confirm=yes` the page asks first (no JavaScript
    needed); with it, each selected entry is deleted through the store's rules."""
    if not pane.perms.delete:
        raise HttpError(403, "This link does not allow deleting")
    values = page.form.getall("path", [])
    if not values:
        return await show(page, pane, rel, status=400, error="Select something to delete")
    if len(values) > MAX_SELECTION:
        raise HttpError(413, f"At most {MAX_SELECTION} entries at once")
    paths = [rel_path(v) for v in values]
    if any(p.is_root for p in paths):
        raise HttpError(403, "The root cannot be deleted")
    if page.form.get("confirm") != "yes":
        entries = [await page.run(pane.drive.stat, pane.target(p)) for p in paths]
        return await page.render("drive/confirm_delete.html", title="Delete?", area="drive",
                                 pane=pane, rel=str(rel), entries=entries, paths=paths)
    for p in paths:
        await page.run(pane.drive.delete, pane.target(p), rules=pane.rules)
    raise page.redirect(pane.links.entry(str(rel), done="deleted", n=len(paths)))


def expiry_texts(page: Page, shares: list[Share]) -> dict[str, str]:
    """When each share expires, in the user's time zone."""
    tz = page.tz
    out = {}
    for s in shares:
        if s.expires is not None:
            out[s.uid] = fmt.long_date(fmt.to_datetime(s.expires, tz))
    return out
