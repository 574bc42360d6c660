"""Reference documentation at `/docs/{page}` (Markdown files in `pages/`, rendered safely),
and the OpenAPI document of the JSON API at `/docs/openapi.json`.

Pages are read once at import into a dict keyed by name, so a request names a key, never a
file: nothing outside the package can be served.
"""

from __future__ import annotations

import functools
import html
import json
from importlib import resources

from aiohttp import web

from rmail import __version__
from rmail.web.docs.markdown import render
from rmail.web.errors import ApiError

routes = web.RouteTableDef()

# name -> (title, rendered HTML), in navigation order
_ORDER = ("index", "api", "mail", "aliases", "admin", "security", "provisioning", "autoconfig",
          "errors", "webmail", "drive", "caldav")


@functools.cache
def pages() -> dict[str, tuple[str, str]]:
    """The rendered pages, made at the first request for one rather than at import: every
    worker imports this module, few ever serve the documentation."""
    found: dict[str, tuple[str, str]] = {}
    folder = resources.files(__package__).joinpath("pages")
    for name in _ORDER:
        text = folder.joinpath(f"{name}.md").read_text(encoding="utf-8")
        title = text.splitlines()[0].lstrip("# ").strip() if text else name
        found[name] = (title, render(text))
    return found


@functools.cache
def spec_json() -> bytes:
    """`/docs/openapi.json`, built (with the OpenAPI modules imported) at its first request."""
    from rmail.web.docs.openapi import build_spec

    return json.dumps(build_spec(), indent=1).encode()


_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; " \
       "form-action 'none'; frame-ancestors 'none'"
_STYLE = """body{font:16px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#222}
nav{min-width:13em;padding:1em;background:#f4f4f6;min-height:100vh}nav a{display:block;
padding:.2em 0;color:#1a4fa0;text-decoration:none}nav a.active{font-weight:bold}
main{padding:1em 2em;max-width:60em}code{background:#f1f1f1;padding:0 .2em}
pre{background:#f6f6f6;padding:.8em;overflow:auto}pre code{background:none}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"""


def page_html(name: str) -> str:
    title, body = pages()[name]
    active = ' class="active"'
    nav = "".join(f'<a href="/docs/{n}"{active if n == name else ""}>'
                  f"{html.escape(pages()[n][0])}</a>" for n in _ORDER)
    nav += '<a href="/docs/openapi.json">OpenAPI (JSON)</a>'
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)} · rmail {__version__}</title>"
            f"<style>{_STYLE}</style></head><body><nav>{nav}</nav>"
            f"<main>{body}</main></body></html>")


@routes.get("/docs")
async def docs_root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/docs/index")


@routes.get("/docs/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=spec_json(), content_type="application/json")


@routes.get("/docs/{page}")
async def docs_page(request: web.Request) -> web.Response:
    name = request.match_info["page"].removesuffix(".html")
    if name not in pages():
        raise ApiError(404, "No such documentation page")
    return web.Response(text=page_html(name), content_type="text/html",
                        headers={"Content-Security-Policy": _CSP,
                                 "X-Content-Type-Options": "nosniff"})
