"""`/webmail/settings/filters`: the user's delivery filters and forwarding, as forms.

The same model and store as `/users/{user}/filters` (`rmail.mail.filters`,
`rmail.store.mailrules`): a form becomes a filter document checked by `parse_filter`, so a
bad value gets the same message as over the API, shown in `.form-error`. Folders are chosen
by name and stored by mailbox id (kept across renames).

    GET  /webmail/settings/filters                 list, add form, forwarding form
    POST /webmail/settings/filters/create          add a filter (evaluated after the others)
    POST /webmail/settings/filters/{id}/toggle     enable / disable
    POST /webmail/settings/filters/{id}/delete     delete
    POST /webmail/settings/forwarding              forward addresses, keep a copy
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from aiohttp import web

from rmail.delivery.rules import check_forward_target, folder_for_id
from rmail.mail.filters import MAX_TEXT, Filter, check_filter_id, parse_filter
from rmail.store.errors import InvalidValue, NotFound
from rmail.store.mailrules import MAX_FORWARD
from rmail.web.errors import HttpError
from rmail.web.webmail.context import Page, view

__all__ = ["routes"]

routes = web.RouteTableDef()
BASE = "/webmail/settings/filters"
TEXT_FIELDS = (("from", "from"), ("to", "to"), ("subject", "subject"), ("list_id", "listId"),
               ("text", "text"))
_OK = {"created": "Filter added.", "deleted": "Filter deleted.", "toggled": "Filter saved.",
       "forwarding": "Forwarding saved."}


def _field(page: Page, name: str, limit: int = MAX_TEXT) -> str:
    value = page.form.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise HttpError(400, f"{name} is too long")
    return value.strip()


def _folders(page: Page) -> list[tuple[str, str]]:
    """(mailbox id, name) of every selectable folder."""
    mailbox = page.mailbox
    out = []
    for entry in mailbox.entries():
        if entry.folder_id is None:
            continue
        try:
            out.append((mailbox.folder(entry.name).mailbox_id(), entry.name))
        except NotFound:
            continue
    return out


def _describe(f: Filter, names: dict[str, str]) -> tuple[str, str]:
    """(conditions, actions) in words, for the list."""
    q, a = f.query, f.action
    words = [f"{label} contains “{q[key]}”" for label, key in (
        ("From", "from"), ("To/Cc", "to"), ("Subject", "subject"), ("List-Id", "listId"),
        ("Text", "text")) if key in q]
    if "hasAttachment" in q:
        words.append("has an attachment" if q["hasAttachment"] else "has no attachment")
    if "size" in q:
        words.append(f"larger than {q['size']} bytes" if q["size"] > 0 else
                     f"smaller than {-q['size']} bytes")
    does = []
    if "mailbox" in a:
        does.append(f"move to {names.get(a['mailbox'], '(a deleted folder)')}")
    if a.get("spam"):
        does.append("move to Junk")
    if a.get("seen"):
        does.append("mark read")
    if a.get("flag"):
        does.append("flag")
    if a.get("delete"):
        does.append("delete")
    if a.get("targets"):
        does.append("forward to " + ", ".join(a["targets"]))
    if a.get("stop"):
        does.append("stop")
    return " and ".join(words) or "every message", ", ".join(does)


async def _page(page: Page, *, status: int = 200, error: str | None = None,
                section: str = "", form: dict[str, Any] | None = None) -> web.Response:
    user = page.user
    rules = await page.run(page.services.delivery.rules.store.get, user.domain, user.username)
    folders = await page.run(_folders, page)
    names = dict(folders)
    rows = [{"id": f.id, "name": f.name or "(no name)", "disabled": f.disabled,
             "when": _describe(f, names)[0], "does": _describe(f, names)[1]}
            for f in rules.filters]
    return await page.render(
        "filters.html", status=status, title="Filters", area="settings", error=error,
        section=section, ok=_OK.get(page.request.query.get("ok", "")), filters=rows,
        folders=folders, form=form or {}, forward=", ".join(rules.forward),
        forward_keep=rules.forward_keep)


@routes.get(BASE)
@view()
async def filters_page(page: Page) -> web.StreamResponse:
    return await _page(page)


def _document(page: Page) -> dict[str, Any]:
    """The filter document a create form describes (checked by `parse_filter` after)."""
    query: dict[str, Any] = {}
    for field, key in TEXT_FIELDS:
        value = _field(page, field)
        if value:
            query[key] = value
    attachment = _field(page, "has_attachment")
    if attachment in ("yes", "no"):
        query["hasAttachment"] = attachment == "yes"
    size = _field(page, "size", 20)
    if size:
        try:
            number = int(size)
        except ValueError:
            raise InvalidValue("Size must be a whole number of bytes") from None
        if number <= 0:
            raise InvalidValue("Size must be a positive number of bytes")
        query["size"] = -number if _field(page, "size_op") == "smaller" else number
    action: dict[str, Any] = {}
    for key in ("seen", "flag", "delete", "spam", "stop"):
        if page.form.get(key) == "1":
            action[key] = True
    folder = _field(page, "mailbox")
    if folder:
        action["mailbox"] = folder
    targets = [t.strip() for t in _field(page, "targets", 2000).split(",") if t.strip()]
    if targets:
        action["targets"] = targets
    return {"name": _field(page, "name"), "query": query, "action": action}


def _build(page: Page, doc: dict[str, Any]) -> Filter:
    user, services = page.user, page.services
    account = services.accounts.get(user.domain, user.username)
    f = parse_filter(doc, filter_id="0" * 24, created=dt.datetime.now(dt.UTC).replace(
        microsecond=0).isoformat(), check_address=lambda a: check_forward_target(
            services.accounts, services.delivery.rules.store, account, a))
    if "mailbox" in f.action:
        try:
            folder_for_id(services.mail, user.domain, user.username, f.action["mailbox"])
        except NotFound:
            raise InvalidValue("That folder no longer exists") from None
    return f


@routes.post(BASE + "/create")
@view()
async def create_filter(page: Page) -> web.StreamResponse:
    form = {k: v for k, v in page.form.items() if k != "csrf" and isinstance(v, str)}
    try:
        doc = _document(page)
        built = await page.run(_build, page, doc)
        await page.run(page.services.delivery.rules.store.add_filter, page.user.domain,
                       page.user.username, lambda fid: dataclasses.replace(built, id=fid))
    except InvalidValue as exc:
        return await _page(page, status=400, error=str(exc), section="create", form=form)
    raise page.redirect(BASE, ok="created")


def _filter_id(page: Page) -> str:
    try:
        return check_filter_id(page.request.match_info["filter"])
    except InvalidValue:
        raise HttpError(404, "No such filter") from None


@routes.post(BASE + "/{filter}/toggle")
@view()
async def toggle_filter(page: Page) -> web.StreamResponse:
    filter_id = _filter_id(page)
    await page.run(page.services.delivery.rules.store.replace_filter, page.user.domain,
                   page.user.username, filter_id,
                   lambda f: dataclasses.replace(f, disabled=not f.disabled))
    raise page.redirect(BASE, ok="toggled")


@routes.post(BASE + "/{filter}/delete")
@view()
async def delete_filter(page: Page) -> web.StreamResponse:
    filter_id = _filter_id(page)
    await page.run(page.services.delivery.rules.store.delete_filter, page.user.domain,
                   page.user.username, filter_id)
    raise page.redirect(BASE, ok="deleted")


@routes.post("/webmail/settings/forwarding")
@view()
async def forwarding(page: Page) -> web.StreamResponse:
    raw = [t.strip() for t in _field(page, "forward", 10_000).split(",") if t.strip()]
    keep = page.form.get("keep") == "1"
    user, services = page.user, page.services
    try:
        if len(raw) > MAX_FORWARD:
            raise InvalidValue(f"At most {MAX_FORWARD} forward addresses")
        account = await page.run(services.accounts.get, user.domain, user.username)
        checked = tuple([await page.run(check_forward_target, services.accounts,
                                        services.delivery.rules.store, account, a)
                         for a in raw])
    except InvalidValue as exc:
        return await _page(page, status=400, error=str(exc), section="forwarding")
    await page.run(services.delivery.rules.store.set_forwarding, user.domain, user.username,
                   forward=checked, keep=keep)
    raise page.redirect(BASE, ok="forwarding")
