"""A drive file answered to a browser: opened in place when `kinds.inline_type` says a browser
can show it without running it (raster images, PDF, text as text/plain, audio, video), else
downloaded; `?download=1` always downloads. Range requests work (video seeking), bytes stream
from disk (`FileSender`), and the file can never script our origin: `nosniff`, and a sandboxing
CSP on everything but PDF (Chromium's viewer does not load in a sandboxed document; a PDF
cannot run script in our origin anyway)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from rmail.store.drive import DrivePath, UserDrive
from rmail.web.errors import HttpError
from rmail.web.files import FileSender, RangeNotSatisfiable, parse_range
from rmail.web.webmail.context import Page
from rmail.web.webmail.drive.kinds import inline_type

__all__ = ["FILE_CSP", "send_file"]

FILE_CSP = ("sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; "
            "style-src 'unsafe-inline'")
PDF_CSP = "default-src 'none'; frame-ancestors 'none'"


def disposition(kind: str, name: str) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name (RFC 8187)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                       for c in name) or "file"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def send_file(page: Page, drive: UserDrive, path: DrivePath, *,
                    download: bool) -> web.StreamResponse:
    entry, fobj = await page.run(drive.open_file, path)
    try:
        shown = None if download else inline_type(entry.content_type)
        headers = {
            "ETag": entry.etag, "Accept-Ranges": "bytes",
            "Content-Type": shown or "application/octet-stream",
            "Content-Disposition": disposition("inline" if shown else "attachment", entry.name),
            "Content-Security-Policy": PDF_CSP if shown == "application/pdf" else FILE_CSP,
            "Cache-Control": "private, no-cache",
        }
        request = page.request
        if request.headers.get("If-None-Match", "").strip() == entry.etag:
            fobj.close()
            return web.Response(status=304, headers={"ETag": entry.etag})
        span = None
        rng = request.headers.get("Range")
        if rng and request.headers.get("If-Range", entry.etag).strip() == entry.etag:
            try:
                span = parse_range(rng, entry.size)
            except RangeNotSatisfiable as exc:
                raise HttpError(416, str(exc), {"Content-Range": exc.content_range}) from None
        if span is None:
            return FileSender(fobj, 0, entry.size, run=page.run, headers=headers)
        offset, count = span
        headers["Content-Range"] = f"bytes {offset}-{offset + count - 1}/{entry.size}"
        return FileSender(fobj, offset, count, run=page.run, status=206, headers=headers)
    except BaseException:
        fobj.close()
        raise
