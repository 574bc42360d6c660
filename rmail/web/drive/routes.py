"""The drive's route table: one handler per verb (STYLE.md #4), wrapped once with request
resolution (owner or share link) and the error mapping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from rmail.web.drive import (
    copy,
    delete,
    get,
    lock,
    mkcol,
    move,
    options,
    post,
    propfind,
    proppatch,
    put,
    share_api,
    unlock,
)
from rmail.web.drive.context import Ctx, resolve
from rmail.web.drive.dialect import is_dav_client
from rmail.web.drive.errors import respond_error

__all__ = ["VERBS", "add_routes"]

Verb = Callable[[Ctx], Awaitable[web.StreamResponse]]

VERBS: dict[str, Verb] = {
    "GET": get.handle,
    "HEAD": get.handle,
    "PUT": put.handle,
    "POST": post.handle,
    "MKCOL": mkcol.handle,
    "DELETE": delete.handle,
    "MOVE": move.handle,
    "COPY": copy.handle,
    "PROPFIND": propfind.handle,
    "PROPPATCH": proppatch.handle,
    "LOCK": lock.handle,
    "UNLOCK": unlock.handle,
}

RawHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _wrap(verb: Verb) -> RawHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            ctx = await resolve(request)
            return await verb(ctx)
        except web.HTTPException:
            raise
        except Exception as exc:
            return respond_error(request, exc, dav=is_dav_client(request))

    handler.__name__ = f"drive_{verb.__module__.rsplit('.', 1)[-1]}"
    return handler


def _guard(fn: RawHandler) -> RawHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            return respond_error(request, exc, dav=False)

    return handler


def add_routes(app: web.Application) -> None:
    """Register the share API first: it must win over the catch-all `/drive/{tail}`."""
    router = app.router
    for method in ("GET", "POST"):
        router.add_route(method, "/drive/_share", _guard(share_api.collection))
    for method in ("GET", "PATCH", "DELETE"):
        router.add_route(method, "/drive/_share/{uid}", _guard(share_api.item))
    for path in ("/drive", "/drive/{tail:.*}"):
        router.add_route("OPTIONS", path, options.handle)
        for method, verb in VERBS.items():
            router.add_route(method, path, _wrap(verb))
