"""PUT: create or overwrite a file, streamed to disk. Missing parent directories are created
(the manual) unless the client is a WebDAV client (409, RFC 4918 §9.7.1). Honours If-Match,
If-None-Match: *, the If header and locks; over quota is 413, with nothing left behind."""

from __future__ import annotations

import asyncio

from aiohttp import web

from rmail.store.drive import Entry
from rmail.store.errors import NotFound, QuotaExceeded
from rmail.web.drive.context import Ctx
from rmail.web.drive.dialect import is_dav_client
from rmail.web.drive.errors import DriveError
from rmail.web.drive.locking import check_if, require_tokens
from rmail.web.drive.transfer import receive

__all__ = ["handle", "parse_if_match", "write_body"]


def parse_if_match(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [t.strip() for t in value.split(",") if t.strip()]


async def write_body(ctx: Ctx, *, make_parents: bool) -> tuple[Entry, bool]:
    """Stream the request body into `ctx.path`; returns (entry, created)."""
    req = ctx.request
    if_match = parse_if_match(req.headers.get("If-Match"))
    if_none_match = req.headers.get("If-None-Match", "").strip() == "*"
    drive = ctx.drive
    try:
        old = await asyncio.to_thread(drive.check_write, ctx.path, if_match=if_match,
                                      if_none_match=if_none_match)
    except NotFound:
        old = None
    if old is not None and old.is_dir:
        raise DriveError(405 if is_dav_client(req) else 409, f"{ctx.path} is a directory")
    if ctx.share is not None:
        ctx.require("U" if old is not None else "C",
                    "overwriting files" if old is not None else "creating files")
    quota = await asyncio.to_thread(ctx.quota)
    allowance = await asyncio.to_thread(drive.upload_allowance, ctx.path, quota)
    length = req.content_length
    if allowance is not None and length is not None and length > allowance:
        raise QuotaExceeded("quota exceeded")
    upload = await asyncio.to_thread(drive.begin_upload, allowance)
    try:
        await receive(upload, req.content.readany)
        return await asyncio.to_thread(
            drive.commit_upload, upload, ctx.path, content_type=req.headers.get("Content-Type"),
            make_parents=make_parents, if_match=if_match, if_none_match=if_none_match,
            quota=quota, may_create=ctx.share is None or ctx.share.allows("C"),
            may_overwrite=ctx.share is None or ctx.share.allows("U"))
    finally:
        await asyncio.to_thread(upload.abort)


async def handle(ctx: Ctx) -> web.StreamResponse:
    if ctx.path == ctx.root and ctx.path.is_root:
        raise DriveError(405, "cannot PUT the drive root")
    tokens = await check_if(ctx)
    await require_tokens(ctx, tokens, ctx.path)
    entry, created = await write_body(ctx, make_parents=not is_dav_client(ctx.request))
    body = entry.public()
    if ctx.share is not None:
        body["path"] = str(entry.path.relative_to(ctx.root))
    headers = {"ETag": entry.etag}
    if created:
        headers["Location"] = ctx.href(entry.path, False)
    return web.json_response(body, status=201 if created else 200, headers=headers)
