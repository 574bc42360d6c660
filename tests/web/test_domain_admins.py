"""Domain admins (`admin_domains`) manage users and aliases of their domains only; only global
admins grant admin rights or add domains; `/admin/users` never creates a domain."""

from __future__ import annotations

import asyncio

from rmail.auth import hash_password
from tests.web.conftest import DOMAIN, Api

OTHER = "other.org"


async def _setup(api: Api) -> None:
    accounts = api.services.accounts
    await asyncio.to_thread(accounts.add_domain, OTHER)
    await asyncio.to_thread(accounts.create, OTHER, "carol",
                            await asyncio.to_thread(hash_password, "carol-pw"))
    await asyncio.to_thread(accounts.update, DOMAIN, "bob", admin_domains=[OTHER])


async def test_users_of_managed_domains_only(api: Api) -> None:
    await _setup(api)
    reply = await api.call("GET", "/admin/users", user="bob")  # default: the managed domain
    assert reply.status == 200
    assert [u["username"] for u in reply.json()["users"]] == ["carol"]
    assert (await api.call("GET", f"/admin/users?domain={DOMAIN}", user="bob")).status == 403
    assert (await api.call("GET", "/admin/users?domain=nope.test", user="bob")).status == 403
    assert (await api.call("GET", "/admin/users", user="alice")).status == 403
    body = {"username": "dave", "password": "dave-pw", "domain": OTHER}
    assert (await api.call("POST", "/admin/users", user="bob", json=body)).status == 201
    reply = await api.call("POST", "/admin/users", user="bob", json={**body, "domain": DOMAIN})
    assert reply.status == 403
    reply = await api.call("POST", "/admin/users", user="bob",
                           json={**body, "username": "eve", "admin": True})
    assert reply.status == 403
    reply = await api.call("PATCH", f"/admin/users/carol?domain={OTHER}", user="bob",
                           json={"display_name": "Carol"})
    assert reply.status == 200 and reply.json()["display_name"] == "Carol"
    for change in ({"admin": True}, {"admin_domains": [OTHER]}):
        reply = await api.call("PATCH", f"/admin/users/carol?domain={OTHER}", user="bob",
                               json=change)
        assert reply.status == 403, change
    reply = await api.call("DELETE", f"/admin/users/alice?domain={DOMAIN}", user="bob")
    assert reply.status == 403
    # /users/{user} follows the same scope
    assert (await api.call("GET", f"/users/carol@{OTHER}", user="bob")).status == 200
    assert (await api.call("GET", f"/users/alice@{DOMAIN}", user="bob")).status == 403


async def test_admin_users_never_creates_a_domain(api: Api) -> None:
    body = {"username": "zed", "password": "zed-pw", "domain": "unhosted.test"}
    reply = await api.call("POST", "/admin/users", user="admin", json=body)
    assert reply.status == 404 and reply.error
    assert not api.services.accounts.has_domain("unhosted.test")
    # a global admin adds the domain first
    reply = await api.call("POST", "/admin/domains", user="admin",
                           json={"domain": "Unhosted.TEST"})
    assert reply.status == 201 and reply.json() == {"domain": "unhosted.test"}
    assert (await api.call("POST", "/admin/domains", user="admin",
                           json={"domain": "unhosted.test"})).status == 409
    assert (await api.call("POST", "/admin/users", user="admin", json=body)).status == 201
    for bad in ({"domain": "bad..name"}, {"domain": 5}, {}):
        reply = await api.call("POST", "/admin/domains", user="admin", json=bad)
        assert reply.status == 400, bad


async def test_domains_listing_and_adding_by_scope(api: Api) -> None:
    await _setup(api)
    assert (await api.call("GET", "/admin/domains", user="bob")).json() == {"domains": [OTHER]}
    listed = (await api.call("GET", "/admin/domains", user="admin")).json()["domains"]
    assert set(listed) >= {DOMAIN, OTHER}
    assert (await api.call("GET", "/admin/domains", user="alice")).status == 403
    reply = await api.call("POST", "/admin/domains", user="bob", json={"domain": "mine.test"})
    assert reply.status == 403


async def test_aliases_of_managed_domains_only(api: Api) -> None:
    await _setup(api)
    reply = await api.call("POST", "/aliases", user="bob",
                           json={"name": "info", "targets": [f"carol@{OTHER}"],
                                 "domain": OTHER})
    assert reply.status == 201
    reply = await api.call("POST", "/aliases", user="bob",
                           json={"name": "sales", "targets": [f"alice@{DOMAIN}"]})
    assert reply.status == 201 and reply.json()["domain"] == OTHER  # his default domain
    reply = await api.call("POST", "/aliases", user="bob", json={
        "name": "info", "targets": [f"alice@{DOMAIN}"], "domain": DOMAIN})
    assert reply.status == 403  # bob's own domain is not one he administers
    assert (await api.call("GET", f"/aliases?domain={OTHER}", user="bob")).status == 200
    assert (await api.call("DELETE", f"/aliases/info?domain={OTHER}", user="bob")).status == 200
    assert (await api.call("GET", f"/aliases?domain={OTHER}", user="alice")).status == 403
