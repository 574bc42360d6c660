"""GET /docs/{page}, the Markdown renderer, and the OpenAPI document against the router."""

from __future__ import annotations

import json

import pytest

from rmail.config import Config
from rmail.services import build_services
from rmail.web.app import create_app
from rmail.web.docs import pages
from rmail.web.docs.markdown import render
from rmail.web.docs.openapi import build_spec
from tests.web.conftest import Api

# Routes that are not part of the JSON API (documented as pages, not in the OpenAPI).
NOT_JSON_API = ("/healthz", "/docs", "/.well-known/", "/mail/config", "/autodiscover/",
                "/Autodiscover/", "/mobileconfig", "/caldav", "/drive", "/webmail",
                "/principals", "/dav", "/calendars", "/addressbooks")


async def test_pages_are_html(api: Api) -> None:
    for name in pages():
        reply = await api.call("GET", f"/docs/{name}")
        assert reply.status == 200, name
        assert reply.headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in reply.headers["Content-Security-Policy"]
        text = reply.body.decode()
        assert text.startswith("<!DOCTYPE html>")
        assert "<script" not in text
    api_page = (await api.call("GET", "/docs/api")).body.decode()
    assert "/auth/login" in api_page and "<table>" in api_page
    assert (await api.call("GET", "/docs/mail.html")).status == 200


async def test_docs_root_and_unknown_pages(api: Api) -> None:
    root = await api.call("GET", "/docs")
    assert root.status == 200 and b"rmail reference" in root.body  # followed the redirect
    for path in ("/docs/nope", "/docs/..%2F..%2Fsetup.cfg", "/docs/%2Fetc%2Fpasswd",
                 "/docs/index.md"):
        reply = await api.call("GET", path)
        assert reply.status == 404, path
        assert reply.error


def test_markdown_escapes_everything() -> None:
    html = render("# <script>x</script>\n\nHi <img src=x onerror=alert(1)> "
                  "[a](javascript:alert(1)) [b](https://ok.example/?q=1&x=\"y\") `<b>`\n\n"
                  "| <i> | b |\n|---|---|\n| 1 | <u> |\n\n```\n<pre>&\n```\n- <li>\n")
    assert "<script" not in html and "<img" not in html and "<i>" not in html
    assert "javascript:" not in html.replace("javascript:alert(1", "")  # text only, no href
    assert 'href="javascript' not in html
    assert 'href="https://ok.example/?q=1&amp;x=&quot;y&quot;"' in html
    assert "<code>&lt;b&gt;</code>" in html
    assert "&lt;pre&gt;&amp;" in html
    assert "<th>&lt;i&gt;</th>" in html


def test_markdown_blocks() -> None:
    html = render("## Two words\ntext **bold**\nmore\n\n1. one\n2. two\n")
    assert '<h2 id="two-words">Two words</h2>' in html
    assert "<p>text <strong>bold</strong> more</p>" in html
    assert "<ol><li>one</li><li>two</li></ol>" in html


async def test_openapi_is_served(api: Api) -> None:
    reply = await api.call("GET", "/docs/openapi.json")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    spec = reply.json()
    assert spec["openapi"] == "3.1.0"
    assert spec == json.loads(json.dumps(build_spec()))


def test_openapi_matches_the_router(tmp_config: Config) -> None:
    """Every JSON API route is described, and every described operation is routed."""
    app = create_app(tmp_config, core=build_services(tmp_config))
    routed = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method in ("HEAD", "*", "OPTIONS") or path.startswith(NOT_JSON_API) \
                or path == "/":  # the webmail's redirect
            continue
        routed.add((route.method, path))
    described = {(method.upper(), path) for path, ops in build_spec()["paths"].items()
                 for method in ops}
    assert routed == described


def test_openapi_refs_resolve() -> None:
    spec = build_spec()
    text = json.dumps(spec)
    names = set(spec["components"]["schemas"])
    for ref in {part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]}:
        assert ref in names, ref
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (method, path)
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize("name", sorted(pages()))
def test_every_page_has_a_title(name: str) -> None:
    title, body = pages()[name]
    assert title and body.startswith("<h1")
