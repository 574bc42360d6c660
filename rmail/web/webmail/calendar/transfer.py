"""Import and export of whole calendars.

`POST /webmail/calendar/import` takes a raw `text/calendar` body (the manual; the CSRF token in
the `X-CSRF-Token` header, the target calendar in `?calendar=`, the default calendar when
absent) and answers JSON, or the upload form of `GET /webmail/calendar/import` (multipart:
`csrf` first, then `calendar` and `file`) and answers a page. Either way every object of the
file lands in one all-or-nothing store write (an existing UID is updated), or nothing does and
the answer names the line that is wrong.

`GET /webmail/calendar/export/{calendar}` downloads the calendar as one `.ics`
(`a.action-export`).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import BodyPartReader, web

from rmail.ical.importing import MAX_IMPORT_BYTES, ImportRefused, export_calendar, prepare_import
from rmail.ical.parse import InvalidCalendar
from rmail.scheduling import events
from rmail.store.davstore import UidConflict
from rmail.store.errors import Conflict, NotFound
from rmail.web.errors import HttpError
from rmail.web.webmail.calendar.common import calendar_list, chrome, home
from rmail.web.webmail.context import Page, view

routes = web.RouteTableDef()
RAW_TYPES = {"text/calendar", "application/ics", "text/plain", "application/octet-stream",
             "text/x-vcalendar"}


async def _read_limited(read: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"the file is larger than {limit // (1024 * 1024)} MiB")
        chunks.append(chunk)


async def _import(page: Page, calendar: str, body: bytes) -> tuple[int, int]:
    """(created, updated); ImportRefused / HttpError for what cannot be imported."""
    infos = {c.name: c for c in await calendar_list(page)}
    if calendar not in infos:
        raise HttpError(404, f"No calendar {calendar!r}")
    items = await page.run(prepare_import, body, infos[calendar].components)
    try:
        return await events.import_items(home(page), calendar, items, run=page.run)
    except UidConflict as exc:
        raise ImportRefused(f"{exc} (resource {exc.existing}): nothing was imported") \
            from None
    except (Conflict, InvalidCalendar) as exc:
        raise ImportRefused(f"{exc}: nothing was imported") from None


def _json(status: int, doc: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(doc), content_type="application/json")


@routes.get("/webmail/calendar/import")
@view()
async def form(page: Page) -> web.StreamResponse:
    infos = await calendar_list(page)
    return await page.render("calendar/import.html", title="Import", error="", result=None,
                             chosen="default", **chrome(page, infos))


@routes.post("/webmail/calendar/import")
@view()
async def upload(page: Page) -> web.StreamResponse:
    request = page.request
    if request.content_type == "multipart/form-data":
        return await _upload_form(page)
    if request.content_type not in RAW_TYPES:
        raise HttpError(415, "send text/calendar (or the upload form)")
    if request.content_length is not None and request.content_length > MAX_IMPORT_BYTES:
        return _json(413, {"error": "the file is too large", "limit": MAX_IMPORT_BYTES})
    calendar = request.query.get("calendar", "default")
    try:
        body = await _read_limited(request.content.read, MAX_IMPORT_BYTES)
        created, updated = await _import(page, calendar, body)
    except ImportRefused as exc:
        return _json(400, {"error": str(exc), "line": exc.line})
    except HttpError as exc:
        return _json(exc.status, {"error": exc.message})
    return _json(200, {"calendar": calendar, "imported": created + updated,
                       "created": created, "updated": updated})


async def _upload_form(page: Page) -> web.StreamResponse:
    reader = await page.multipart()
    calendar = "default"
    body: bytes | None = None
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "calendar":
            calendar = (await part.read(decode=True))[:300].decode("utf-8", "replace").strip()
        elif part.name == "file":
            body = await _read_limited(part.read_chunk, MAX_IMPORT_BYTES)
    infos = await calendar_list(page)
    error, result, status = "", None, 200
    try:
        if not body:
            raise ImportRefused("choose a .ics file to import")
        created, updated = await _import(page, calendar or "default", body)
        result = {"created": created, "updated": updated}
    except ImportRefused as exc:
        error, status = str(exc), 400
    except HttpError as exc:
        error, status = exc.message, exc.status
    return await page.render("calendar/import.html", title="Import", error=error,
                             result=result, chosen=calendar, status=status,
                             **chrome(page, infos))


@routes.get("/webmail/calendar/export/{calendar}")
@view()
async def export(page: Page) -> web.StreamResponse:
    name = page.request.match_info["calendar"]
    calendars = home(page)

    def build() -> tuple[bytes, str]:
        coll = calendars.get(name)
        meta = coll.meta()
        objects = [blob for _, _, blob in coll.read_many(list(coll.index().objects))]
        label = str(meta.get("displayname") or name)
        return export_calendar(objects, label, str(meta.get("color") or "")), label

    try:
        body, _label = await page.run(build)
    except NotFound:
        raise HttpError(404, "No such calendar") from None
    filename = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
    return web.Response(body=body, content_type="text/calendar", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename or "calendar"}.ics"'})
