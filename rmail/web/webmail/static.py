"""`GET /webmail/static/{name}`: the stylesheet and the small script, read once at import into
a dict keyed by name (a request names a key, never a file), with an ETag and a day of caching.
Another area adds a file by putting it in `static/`."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aiohttp import web

from rmail.web.webmail.headers import security_headers

__all__ = ["ASSETS", "routes", "version_of"]

routes = web.RouteTableDef()
_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml",
          ".png": "image/png", ".ico": "image/x-icon"}
_DIR = Path(__file__).with_name("static")


def _load() -> dict[str, tuple[bytes, str, str]]:
    assets = {}
    for path in sorted(_DIR.iterdir()):
        ctype = _TYPES.get(path.suffix)
        if ctype is None or not path.is_file():
            continue
        data = path.read_bytes()
        assets[path.name] = (data, ctype, hashlib.sha256(data).hexdigest()[:16])
    return assets


ASSETS = _load()


def version_of(name: str) -> str:
    """A cache-busting suffix for links to an asset."""
    return ASSETS[name][2] if name in ASSETS else "0"


@routes.get("/webmail/static/{name}")
async def asset(request: web.Request) -> web.StreamResponse:
    found = ASSETS.get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound(text="no such file")
    data, ctype, etag = found
    headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=86400"}
    if request.headers.get("If-None-Match") == f'"{etag}"':
        response = web.Response(status=304, headers=headers)
    else:
        response = web.Response(body=data, content_type=ctype, headers=headers,
                                charset="utf-8" if ctype.startswith("text/") else None)
    security_headers(response)
    return response
