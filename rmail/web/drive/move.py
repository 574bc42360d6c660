"""MOVE: rename or relocate (`Destination: /drive/{dst}`); `Overwrite: F` refuses to replace
an existing destination (412). 201 when the destination is new, 204 when it was replaced.
Not allowed through share links. Locks on the source do not travel with it."""

from __future__ import annotations

from aiohttp import web

from rmail.store.drive import DrivePath
from rmail.web.drive.context import Ctx
from rmail.web.drive.errors import DriveError
from rmail.web.drive.locking import check_if

__all__ = ["destination", "handle", "overwrite_flag"]


def overwrite_flag(ctx: Ctx) -> bool:
    value = ctx.request.headers.get("Overwrite", "T").strip().upper()
    if value not in ("T", "F"):
        raise DriveError(400, "Overwrite must be T or F")
    return value == "T"


def destination(ctx: Ctx) -> DrivePath:
    dest = ctx.request.headers.get("Destination")
    if not dest:
        raise DriveError(400, "a Destination header is required")
    path = ctx.path_from_url(dest)
    if path == ctx.path:
        raise DriveError(403, "source and destination are the same")
    return path


async def handle(ctx: Ctx) -> web.StreamResponse:
    if ctx.share is not None:
        raise DriveError(403, "MOVE is not allowed on shared resources")
    if ctx.path.is_root:
        raise DriveError(403, "the drive root cannot be moved")
    dst = destination(ctx)
    overwrite = overwrite_flag(ctx)
    tokens = await check_if(ctx)
    created = await ctx.run(ctx.drive.move, ctx.path, dst, rules=ctx.rules(tokens),
                                      overwrite=overwrite)
    if created:
        return web.Response(status=201, headers={"Location": ctx.href(dst, False)})
    return web.Response(status=204)
