"""Over HTTPS the session cookie is Secure and every link is https://."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp

from rmail.config import Config
from rmail.server import Server
from rmail.services import build_services
from rmail.tls import client_context_trusting
from tests.web.conftest import DOMAIN, template_store  # noqa: F401
from tests.webmail.conftest import Browser
from tests.webmail.test_list import assert_absolute


async def test_https_cookie_is_secure(tmp_config: Config, template_store: Path  # noqa: F811
                                      ) -> None:
    config = tmp_config.with_overrides(domains=[DOMAIN])  # tmp_config serves HTTPS
    shutil.copytree(template_store, config.mail_root)
    services = build_services(config)
    server = Server(config, services={"core": services})
    await server.start()
    try:
        assert server.cert_path is not None
        ctx = client_context_trusting(server.cert_path)
        connector = aiohttp.TCPConnector(ssl=ctx)
        async with aiohttp.ClientSession(connector=connector,
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            b = Browser(server.url().rstrip("/"), config, services, s)
            assert b.base.startswith("https://")
            r = await b.login()
            assert r.status == 303, r.text[:300]
            cookie = r.headers["Set-Cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie
            page = await b.follow(r)
            assert page.status == 200
            assert_absolute(page.text, b.base)
    finally:
        await server.stop()

