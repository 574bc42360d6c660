"""GET and HEAD: a directory's JSON listing, or a file's bytes (Range -> 206, If-None-Match ->
304, If-Match -> 412). A browser (`Accept: text/html`) opening a shared directory is sent to the
webmail file manager instead."""

from __future__ import annotations

from typing import IO
from urllib.parse import quote

from aiohttp import web

from rmail.store.drive import Entry
from rmail.web.drive.context import Ctx
from rmail.web.drive.davxml import http_date
from rmail.web.drive.errors import DriveError
from rmail.web.files import FileSender, RangeNotSatisfiable, parse_range

__all__ = ["handle"]


def _etags(value: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in value.split(",") if t.strip()]


def file_headers(entry: Entry) -> dict[str, str]:
    return {"ETag": entry.etag, "Last-Modified": http_date(entry.mtime),
            "Accept-Ranges": "bytes", "Content-Type": entry.content_type or
            "application/octet-stream"}


def _lookup(ctx: Ctx) -> tuple[Entry, IO[bytes] | None]:
    """One trip to a worker thread: the entry, and the opened file when it is one."""
    entry = ctx.drive.stat(ctx.path)
    if entry.is_dir:
        return entry, None
    return ctx.drive.open_file(ctx.path)


async def handle(ctx: Ctx) -> web.StreamResponse:
    req = ctx.request
    # Answered right on the event loop when the directory index is in memory: a thread hop
    # would cost more than the few syscalls it saves the loop. A small file comes from memory.
    small = ctx.drive.peek_small(ctx.path) if req.method == "GET" else None
    if small is not None:
        entry, data = small
        plan = _plan(req, entry)
        if isinstance(plan, web.Response):
            return plan
        status, headers, offset, count = plan
        return web.Response(body=data[offset:offset + count], status=status, headers=headers)
    opened = ctx.drive.peek_open(ctx.path)
    entry, fobj = opened if opened is not None else await ctx.run(_lookup, ctx)
    if fobj is None:
        if ctx.share is not None and "text/html" in req.headers.get("Accept", ""):
            raise web.HTTPFound(_webmail_url(ctx))
        info = await ctx.run(ctx.drive.listdir, ctx.path)
        body = info.public()
        if ctx.share is not None:
            body = _share_relative(ctx, body)
        return web.json_response(body)
    try:
        plan = _plan(req, entry)
        if isinstance(plan, web.Response):
            fobj.close()
            return plan
        status, headers, offset, count = plan
        return FileSender(fobj, offset, count, run=ctx.run, status=status, headers=headers)
    except BaseException:
        fobj.close()
        raise


def _plan(req: web.Request, entry: Entry) -> web.Response | tuple[int, dict[str, str], int, int]:
    """Preconditions and Range for a file: a finished 304 response, or (status, headers,
    offset, count) of the bytes to send. Raises 412 / 416."""
    if_match = req.headers.get("If-Match")
    if if_match is not None and "*" not in if_match and entry.etag not in _etags(if_match):
        raise DriveError(412, "the file has changed")
    headers = file_headers(entry)
    inm = req.headers.get("If-None-Match")
    if inm is not None and ("*" in inm or entry.etag in _etags(inm)):
        return web.Response(status=304, headers={"ETag": entry.etag,
                                                 "Last-Modified": headers["Last-Modified"]})
    rng = req.headers.get("Range")
    if_range = req.headers.get("If-Range")
    span = None
    if rng and (if_range is None or if_range.strip() in (entry.etag, headers["Last-Modified"])):
        try:
            span = parse_range(rng, entry.size)
        except RangeNotSatisfiable as exc:
            raise DriveError(416, str(exc),
                             headers={"Content-Range": exc.content_range}) from None
    if span is None:
        return 200, headers, 0, entry.size
    offset, count = span
    headers["Content-Range"] = f"bytes {offset}-{offset + count - 1}/{entry.size}"
    return 206, headers, offset, count


def _webmail_url(ctx: Ctx) -> str:
    assert ctx.share is not None
    rel = ctx.path.relative_to(ctx.root)
    tail = "".join("/" + quote(p, safe="") for p in rel.parts)
    name = ctx.href_root.rsplit("/", 1)[-1]
    origin = f"{ctx.request.scheme}://{ctx.request.host}"  # the webmail's links are absolute
    return f"{origin}/webmail/drive/{ctx.share.uid}/{name}{tail}"


def _share_relative(ctx: Ctx, body: dict) -> dict:  # type: ignore[type-arg]
    """Paths in a share listing are relative to the share, never the owner's layout."""
    def rel(path: str) -> str:
        parts = tuple(p for p in path.split("/") if p)
        return "/".join(parts[ctx.root.depth:])

    body = dict(body)
    body["path"] = rel(body["path"])
    body["children"] = [dict(c, path=rel(c["path"])) for c in body.get("children", [])]
    return body
