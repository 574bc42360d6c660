"""The owner's share API: `/drive/_share` (POST create, GET list) and `/drive/_share/{uid}`
(GET, PATCH, DELETE). Records carry the public URL, built from the request's own origin."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp import web

from rmail.store.drive import DrivePath
from rmail.store.drive.shares import Share, parse_expires
from rmail.store.errors import InvalidValue
from rmail.web.drive.context import DRIVE_KEY, PREFIX, authenticate
from rmail.web.drive.errors import DriveError

__all__ = ["collection", "item", "share_json"]

MAX_BODY = 64 * 1024
FIELDS = ("target_path", "name", "permissions", "expires")


def share_json(request: web.Request, share: Share) -> dict[str, Any]:
    doc = share.to_doc()
    doc.pop("version", None)
    origin = f"{request.scheme}://{request.host}"
    doc["url"] = f"{origin}{PREFIX}{share.uid}/{quote(share.name, safe='')}"
    doc["expired"] = share.expired()
    return doc


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise DriveError(413, "request body too large")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise DriveError(413, "request body too large")
    try:
        doc = json.loads(raw or b"{}")
    except ValueError:
        raise DriveError(400, "invalid JSON") from None
    if not isinstance(doc, dict):
        raise DriveError(400, "expected a JSON object")
    unknown = set(doc) - set(FIELDS)
    if unknown:
        raise DriveError(400, f"unknown field(s): {', '.join(sorted(unknown))}")
    return doc


async def collection(request: web.Request) -> web.StreamResponse:
    svc = request.app[DRIVE_KEY]
    principal = await authenticate(request, svc.core)
    dom, user = principal.domain, principal.username
    if request.method == "GET":
        shares = await svc.core.run(svc.shares.list, dom, user)
        return web.json_response({"shares": [share_json(request, s) for s in shares]})
    doc = await _body(request)
    target_text = doc.get("target_path")
    if not isinstance(target_text, str):
        raise DriveError(400, "target_path is required")
    target = DrivePath.parse(target_text.strip("/") if target_text != "/" else "")
    if target.is_root:
        raise DriveError(400, "the drive root cannot be shared")
    name = doc.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidValue("name must be a string")
    permissions = doc.get("permissions", "R")
    expires = parse_expires(doc.get("expires"))
    drive = await svc.core.run(svc.drives.drive, dom, user)
    await svc.core.run(drive.stat, target)  # 404 when there is nothing to share
    share = await svc.core.run(svc.shares.create, dom, user, target, name=name,
                                    permissions=permissions, expires=expires)
    return web.json_response(share_json(request, share), status=201)


async def item(request: web.Request) -> web.StreamResponse:
    svc = request.app[DRIVE_KEY]
    principal = await authenticate(request, svc.core)
    dom, user = principal.domain, principal.username
    uid = request.match_info["uid"]
    if request.method == "GET":
        share = await svc.core.run(svc.shares.owned, dom, user, uid)
    elif request.method == "DELETE":
        await svc.core.run(svc.shares.delete, dom, user, uid)
        return web.Response(status=204)
    else:
        doc = await _body(request)
        if "target_path" in doc:
            raise DriveError(400, "target_path cannot be changed; create a new share")
        changes: dict[str, Any] = {}
        if "name" in doc:
            changes["name"] = doc["name"]
        if "permissions" in doc:
            changes["permissions"] = doc["permissions"]
        if "expires" in doc:
            changes["expires"] = parse_expires(doc["expires"])
        share = await svc.core.run(svc.shares.update, dom, user, uid, **changes)
    return web.json_response(share_json(request, share))
