"""POST: `?action=mkdir` creates a directory and its missing parents; a multipart/form-data
body uploads every `filename=` part to `{path}/{filename}`, where the filename may carry `/`
for folder uploads (each component passes the name gate on its own). Parts are streamed to
disk one at a time. Through a share link, uploads need U and mkdir needs C (checked by the
store, under the drive lock)."""

from __future__ import annotations

import asyncio
from functools import partial

from aiohttp import BodyPartReader, web

from rmail.store.drive import DrivePath, Rules, Upload
from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError
from rmail.web.drive.locking import check_if
from rmail.web.drive.transfer import receive

__all__ = ["handle", "part_path"]


def part_path(base: DrivePath, filename: str) -> DrivePath:
    """`{path}/{filename}` with every component of `filename` validated (absolute paths,
    `..`, empty components, reserved names: all refused)."""
    return base.join(DrivePath.parse(filename))


async def handle(ctx: Ctx) -> web.StreamResponse:
    req = ctx.request
    action = req.query.get("action")
    tokens = await check_if(ctx)
    if action == "mkdir":
        entry, created = await asyncio.to_thread(ctx.drive.mkdir, ctx.path,
                                                 rules=ctx.rules(tokens), parents=True,
                                                 exist_ok=True)
        body = entry.public()
        body["path"] = str(entry.path.relative_to(ctx.root))
        return web.json_response(body, status=201 if created else 200)
    if action is not None:
        raise DriveError(400, f"unknown action {action!r}")
    if not req.content_type.startswith("multipart/form-data"):
        raise DriveError(415, "POST takes multipart/form-data or ?action=mkdir")
    ctx.require("U", "uploading")  # early; the store checks again under its lock
    reader = await req.multipart()
    uploaded = []
    rules: Rules | None = None
    while True:
        try:
            part = await reader.next()
        except (ValueError, Warning) as exc:  # aiohttp warns on a malformed disposition
            raise DriveError(400, f"malformed multipart body: {exc}") from None
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or not part.filename:
            if isinstance(part, BodyPartReader):
                await part.release()
            continue
        dest = part_path(ctx.path, part.filename)

        def prepare(dest: DrivePath = dest) -> tuple[Rules, Upload]:
            nonlocal rules
            if rules is None:  # the quota once per request, in the first part's trip
                rules = ctx.rules(tokens, quota=ctx.quota())
            return rules, ctx.drive.begin_write(dest, rules=rules, form_upload=True)

        part_rules, upload = await asyncio.to_thread(prepare)
        try:
            await receive(upload, partial(part.read_chunk, 256 * 1024))
        except BaseException:
            await asyncio.to_thread(upload.abort)
            raise
        entry, created = await asyncio.to_thread(
            ctx.drive.write, dest, upload, rules=part_rules,
            content_type=part.headers.get("Content-Type"), form_upload=True)
        body = entry.public()
        body["path"] = str(entry.path.relative_to(ctx.root))
        body["created"] = created
        uploaded.append(body)
    if not uploaded:
        raise DriveError(400, "no file parts in the upload")
    return web.json_response({"uploaded": uploaded}, status=201)
