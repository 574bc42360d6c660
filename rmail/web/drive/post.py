"""POST: `?action=mkdir` creates a directory and its missing parents; a multipart/form-data
body uploads every `filename=` part to `{path}/{filename}`, where the filename may carry `/`
for folder uploads (each component passes the name gate on its own). Parts are streamed to
disk one at a time. Through a share link, uploads need U and mkdir needs C."""

from __future__ import annotations

import asyncio
from functools import partial

from aiohttp import BodyPartReader, web

from rmail.store.drive import DrivePath
from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError
from rmail.web.drive.locking import check_if, require_tokens
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
        ctx.require("C", "creating directories")
        await require_tokens(ctx, tokens, ctx.path)
        existed = await asyncio.to_thread(ctx.drive.exists, ctx.path)
        entry = await asyncio.to_thread(ctx.drive.mkdir, ctx.path, parents=True, exist_ok=True)
        body = entry.public()
        body["path"] = str(entry.path.relative_to(ctx.root))
        return web.json_response(body, status=200 if existed else 201)
    if action is not None:
        raise DriveError(400, f"unknown action {action!r}")
    if not req.content_type.startswith("multipart/form-data"):
        raise DriveError(415, "POST takes multipart/form-data or ?action=mkdir")
    ctx.require("U", "uploading")
    reader = await req.multipart()
    uploaded = []
    quota = await asyncio.to_thread(ctx.quota)
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
        await require_tokens(ctx, tokens, dest)
        allowance = await asyncio.to_thread(ctx.drive.upload_allowance, dest, quota)
        upload = await asyncio.to_thread(ctx.drive.begin_upload, allowance)
        try:
            await receive(upload, partial(part.read_chunk, 256 * 1024))
            entry, created = await asyncio.to_thread(
                ctx.drive.commit_upload, upload, dest,
                content_type=part.headers.get("Content-Type"), make_parents=True, quota=quota)
        finally:
            await asyncio.to_thread(upload.abort)
        body = entry.public()
        body["path"] = str(entry.path.relative_to(ctx.root))
        body["created"] = created
        uploaded.append(body)
    if not uploaded:
        raise DriveError(400, "no file parts in the upload")
    return web.json_response({"uploaded": uploaded}, status=201)
