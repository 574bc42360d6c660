"""PUT: create or overwrite a file, streamed to disk. Missing parent directories are created
(the manual) unless the client is a WebDAV client (409, RFC 4918 §9.7.1). Honours If-Match,
If-None-Match: *, the If header and locks; over quota is 413, with nothing left behind.

Two trips to a worker thread besides the body's own: `begin_write` checks everything early
(before a byte is read) and stages the upload; `write` checks it all again under the drive lock
and commits."""

from __future__ import annotations

from aiohttp import web

from rmail.store.drive import Entry, IsDirectory, Rules, Upload
from rmail.web.drive.context import Ctx
from rmail.web.drive.dialect import is_dav_client
from rmail.web.drive.errors import DriveError
from rmail.web.drive.locking import check_if
from rmail.web.uploads import receive

__all__ = ["handle", "write_body"]


async def write_body(ctx: Ctx, tokens: set[str], *, make_parents: bool) -> tuple[Entry, bool]:
    """Stream the request body into `ctx.path`; returns (entry, created)."""
    req = ctx.request

    def prepare() -> tuple[Rules, Upload]:
        rules = ctx.rules(tokens, quota=ctx.quota())
        return rules, ctx.drive.begin_write(ctx.path, rules=rules, length=req.content_length)

    try:
        rules, upload = await ctx.run(prepare)
        try:
            await receive(upload, req.content.readany, ctx.run)
        except BaseException:
            await ctx.run(upload.abort)
            raise
        return await ctx.run(
            ctx.drive.write, ctx.path, upload, rules=rules,
            content_type=req.headers.get("Content-Type"), make_parents=make_parents)
    except IsDirectory:
        raise DriveError(405 if is_dav_client(req) else 409,
                         f"{ctx.path} is a directory") from None


async def handle(ctx: Ctx) -> web.StreamResponse:
    if ctx.path == ctx.root and ctx.path.is_root:
        raise DriveError(405, "cannot PUT the drive root")
    tokens = await check_if(ctx)
    entry, created = await write_body(ctx, tokens, make_parents=not is_dav_client(ctx.request))
    body = entry.public()
    if ctx.share is not None:
        body["path"] = str(entry.path.relative_to(ctx.root))
    headers = {"ETag": entry.etag}
    if created:
        headers["Location"] = ctx.href(entry.path, False)
    return web.json_response(body, status=201 if created else 200, headers=headers)
