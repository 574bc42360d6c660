"""POST: `?action=mkdir` creates a directory and its missing parents; a multipart/form-data
body uploads every `filename=` part to `{path}/{filename}`, where the filename may carry `/`
for folder uploads (each component passes the name gate on its own). Parts are streamed to
tmp/ one at a time and committed together in one store call (all or nothing). Through a share
link, uploads need U and mkdir needs C (checked by the store, under the drive lock)."""

from __future__ import annotations

from aiohttp import web

from rmail.store.drive import Rules
from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError
from rmail.web.drive.locking import check_if
from rmail.web.uploads import part_path, store_form_files

__all__ = ["handle", "part_path"]


async def handle(ctx: Ctx) -> web.StreamResponse:
    req = ctx.request
    action = req.query.get("action")
    tokens = await check_if(ctx)
    if action == "mkdir":
        entry, created = await ctx.run(ctx.drive.mkdir, ctx.path,
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

    def prepare() -> Rules:
        rules = ctx.rules(tokens, quota=ctx.quota())
        if rules.quota is not None and req.content_length is not None:
            ctx.drive.check_room(req.content_length, rules.quota, ctx.path)
        return rules

    rules = await ctx.run(prepare)
    stored = await store_form_files(await req.multipart(), ctx.drive, ctx.path, rules,
                                    ctx.run)
    uploaded = []
    for entry, created in stored:
        body = entry.public()
        body["path"] = str(entry.path.relative_to(ctx.root))
        body["created"] = created
        uploaded.append(body)
    return web.json_response({"uploaded": uploaded}, status=201)
