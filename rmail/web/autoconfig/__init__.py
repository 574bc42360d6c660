"""Client autoconfiguration routes: Thunderbird, Outlook (POX autodiscover), Apple profiles.

All public (no auth): they reveal only what DNS and the listeners already do. An address of a
domain this server does not host gets 404, so clients move on to their next method.
"""

from __future__ import annotations

from aiohttp import web

from rmail.store.accounts import split_address
from rmail.store.errors import InvalidValue, NotFound
from rmail.web.api.base import core, read_body, run
from rmail.web.autoconfig import apple, outlook, thunderbird
from rmail.web.autoconfig.settings import ClientSettings, client_settings
from rmail.web.errors import ApiError

routes = web.RouteTableDef()

AUTODISCOVER_LIMIT = 64 * 1024


async def _settings_for(request: web.Request, email: str | None) -> ClientSettings:
    services = core(request)
    if email:
        try:
            local, domain = split_address(email)
        except InvalidValue:
            raise ApiError(400, "emailaddress is not a valid address") from None
        if not await run(request, services.accounts.has_domain, domain):
            raise ApiError(404, f"{domain} is not hosted here")
        return client_settings(services.config, domain, f"{local}@{domain}")
    domains = services.config.domains or tuple(await run(request, services.accounts.domains))
    return client_settings(services.config, domains[0] if domains else services.config.hostname)


async def _display_name(request: web.Request, email: str) -> str:
    accounts = core(request).accounts
    owner = await run(request, accounts.find_address, email)
    if owner is None:
        return ""
    try:
        return (await run(request, accounts.get, *owner)).display_name
    except NotFound:
        return ""


@routes.get("/.well-known/autoconfig/mail/config-v1.1.xml")
@routes.get("/mail/config-v1.1.xml")
async def thunderbird_config(request: web.Request) -> web.Response:
    settings = await _settings_for(request, request.query.get("emailaddress"))
    return web.Response(body=thunderbird.build(settings), content_type=thunderbird.CONTENT_TYPE,
                        charset="utf-8")


@routes.post("/autodiscover/autodiscover.xml")
@routes.post("/Autodiscover/Autodiscover.xml")
async def outlook_autodiscover(request: web.Request) -> web.Response:
    def xml(body: bytes, status: int = 200) -> web.Response:
        return web.Response(body=body, status=status, content_type=outlook.CONTENT_TYPE,
                            charset="utf-8")

    body = await read_body(request, AUTODISCOVER_LIMIT)
    try:
        email, schema = outlook.parse_request(body)
    except outlook.BadRequest as exc:
        return xml(outlook.error(str(exc)), 400)
    if schema and schema != outlook.OUTLOOK_SCHEMA:
        return xml(outlook.error("only the Outlook response schema is supported", 601), 400)
    try:
        settings = await _settings_for(request, email)
    except ApiError as exc:
        return xml(outlook.error(exc.message), exc.status)
    assert settings.email is not None
    name = await _display_name(request, settings.email)
    return xml(outlook.build(settings, settings.email, name))


@routes.get("/mobileconfig")
async def apple_profile(request: web.Request) -> web.Response:
    """`?emailaddress=alice@example.com`: a profile to open on the iPhone or Mac."""
    email = request.query.get("emailaddress")
    if not email:
        raise ApiError(400, "Parameter emailaddress is required")
    settings = await _settings_for(request, email)
    assert settings.email is not None
    name = await _display_name(request, settings.email)
    filename = f"{settings.domain}.mobileconfig"
    return web.Response(body=apple.build(settings, settings.email, name),
                        content_type=apple.CONTENT_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
