"""`/webmail/settings`: display name, time zone and first day of the week, password, folders.

- The display name lives in account.json (it is the From name of sent mail); the time zone and
  the calendar's first day of the week in preferences.json (`timezone`, an IANA name;
  `week_start`, a day name, the same key the calendar's own page sets).
- A password change needs the current password (it counts toward the shared lockout), bumps
  the account's auth epoch (ending every other session and token), and gives this browser a
  new session.
- Folders: create, rename, delete (after a confirmation checkbox) and (un)subscribe, through
  the same store calls as IMAP CREATE, RENAME, DELETE, SUBSCRIBE/UNSUBSCRIBE.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rmail.auth import LoginInfo, hash_password
from rmail.auth.policy import check_new_password
from rmail.store.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from rmail.web.auth import SESSION_COOKIE, sessions_changed
from rmail.web.errors import HttpError
from rmail.web.webmail import format as fmt
from rmail.web.webmail.calendar.data import WEEKDAY_NAMES, week_start
from rmail.web.webmail.context import Page, session_cookie, view
from rmail.web.webmail.folders import folder_from_url

__all__ = ["routes"]

routes = web.RouteTableDef()
MIN_PASSWORD = 10
MAX_DISPLAY_NAME = 200

_MESSAGES = {"profile": "Profile saved.", "password": "Password changed.",
             "created": "Folder created.", "renamed": "Folder renamed.",
             "deleted": "Folder deleted.", "subscribed": "Subscriptions saved."}


async def _page(page: Page, *, status: int = 200, error: str | None = None,
                section: str = "") -> web.Response:
    prefs = page.preferences()
    return await page.render(
        "settings.html", status=status, title="Settings", area="settings", error=error,
        section=section, ok=_MESSAGES.get(page.request.query.get("ok", "")),
        display_name=page.user.account.display_name,
        timezone=prefs.get("timezone") or "UTC", timezones=fmt.timezones(),
        week_start=next(k for k, v in WEEKDAY_NAMES.items() if v == week_start(prefs)))


@routes.get("/webmail/settings")
@view()
async def settings(page: Page) -> web.StreamResponse:
    return await _page(page)


def _field(page: Page, name: str, limit: int = 1000) -> str:
    value = page.form.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise HttpError(400, f"{name} is too long")
    return value


@routes.post("/webmail/settings/profile")
@view()
async def profile(page: Page) -> web.StreamResponse:
    name = " ".join(_field(page, "display_name", MAX_DISPLAY_NAME).split())
    tz = _field(page, "timezone", 64).strip() or "UTC"
    if tz not in fmt.timezones():
        return await _page(page, status=400, error=f"Unknown time zone {tz!r}.",
                           section="profile")
    day = _field(page, "week_start", 16).strip().lower()
    if day and day not in WEEKDAY_NAMES:
        return await _page(page, status=400, error=f"Unknown day {day!r}.", section="profile")
    user = page.user
    await page.run(page.services.accounts.update, user.domain, user.username,
                   display_name=name)

    def set_profile(doc: dict[str, Any]) -> None:
        doc["timezone"] = tz
        if day:  # an older form without the field keeps the stored choice
            doc["week_start"] = day

    await page.run(page.services.preferences.update, user.domain, user.username, set_profile)
    raise page.redirect("/webmail/settings", ok="profile")


@routes.post("/webmail/settings/password")
@view()
async def password(page: Page) -> web.StreamResponse:
    current = _field(page, "current_password", 4096)
    new = _field(page, "new_password", 4096)
    confirm = _field(page, "confirm_password", 4096)
    user = page.user
    auth = page.services.auth
    if auth.lockout.is_locked(page.request.remote):
        return await _page(page, status=429, error="Too many failed logins; try again later.",
                           section="password")
    # The account's own password (two-factor or not: the session already passed it)
    if not await page.services.run_password(auth.verify_master, user.account, current,
                                            ip=page.request.remote):
        return await _page(page, status=401, error="Your current password is not right.",
                           section="password")
    if new != confirm:
        return await _page(page, status=400, error="The new passwords do not match.",
                           section="password")
    try:
        check_new_password(new, min_length=max(MIN_PASSWORD, page.config.webmail.registration
                                               .min_password_length),
                           username=user.username, domain=user.domain)
    except InvalidValue as exc:
        return await _page(page, status=400, error=str(exc), section="password")
    hashed = await page.services.run_password(hash_password, new)
    account = await page.run(page.services.accounts.update, user.domain, user.username,
                             password_hash=hashed)
    await page.run(auth.log_event, account, "password change", "success",
                   ip=page.request.remote, info=LoginInfo(
                       "webmail", page.request.headers.get("User-Agent", "")[:200]))
    sessions = page.services.sessions
    old = page.request.cookies.get(SESSION_COOKIE, "")
    session_id, _ = await page.run(sessions.create, account.domain, account.username,
                                   account.auth_epoch)
    await page.run(sessions.end, old)
    sessions_changed(page.services, account.domain, account.username)  # streams end now
    response = page.redirect("/webmail/settings", ok="password")
    session_cookie(response, page.request, session_id, sessions.max_age_seconds)
    raise response


async def _folder_op(page: Page, fn: Any, *args: Any, ok: str) -> web.StreamResponse:
    try:
        await page.run(fn, *args)
    except (AlreadyExists, Conflict, NotFound, InvalidValue) as exc:
        return await _page(page, status=400 if not isinstance(exc, NotFound) else 404,
                           error=str(exc), section="folders")
    raise page.redirect("/webmail/settings", ok=ok)


def _folder_name(page: Page, field: str) -> str:
    raw = _field(page, field).strip().strip("/")
    if not raw:
        raise HttpError(400, "Enter a folder name")
    return folder_from_url(raw)


@routes.post("/webmail/settings/folders/create")
@view()
async def create_folder(page: Page) -> web.StreamResponse:
    name = _folder_name(page, "name")
    parent = _field(page, "parent").strip()
    if parent:
        name = folder_from_url(f"{parent}/{name}")
    return await _folder_op(page, page.mailbox.create_folder, name, ok="created")


@routes.post("/webmail/settings/folders/rename")
@view()
async def rename_folder(page: Page) -> web.StreamResponse:
    old, new = _folder_name(page, "name"), _folder_name(page, "new_name")
    return await _folder_op(page, page.mailbox.rename_folder, old, new, ok="renamed")


@routes.post("/webmail/settings/folders/delete")
@view()
async def delete_folder(page: Page) -> web.StreamResponse:
    name = _folder_name(page, "name")
    if page.form.get("confirm") != "yes":
        return await _page(page, status=400, section="folders",
                           error=f"Tick the box to confirm deleting {name} and its messages.")
    return await _folder_op(page, page.mailbox.delete_folder, name, ok="deleted")


@routes.post("/webmail/settings/folders/subscribe")
@view()
async def subscribe(page: Page) -> web.StreamResponse:
    name = _folder_name(page, "name")
    on = page.form.get("subscribed") == "1"
    return await _folder_op(page, page.mailbox.set_subscribed, name, on, ok="subscribed")
