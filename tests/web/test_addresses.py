"""A user's addresses over the JSON API: add (own domain only for users, IDN allowed), make
main, remove (never the main or login one), conflicts with other users and aliases (409), mail
resolution follows at once, and the admins' search."""

from __future__ import annotations

import asyncio

from rmail.auth import hash_password
from tests.web.conftest import DOMAIN, Api

IDN = "bücher.example"
IDN_ASCII = "xn--bcher-kva.example"


async def test_add_main_remove(api: Api) -> None:
    reply = await api.call("GET", "/users/me/addresses", user="alice")
    assert reply.json() == {"success": True, "results": [
        {"address": f"alice@{DOMAIN}", "main": True}]}
    reply = await api.call("POST", "/users/me/addresses", user="alice",
                           json={"address": f"Alice.Liddell@{DOMAIN}"})
    assert reply.status == 200
    assert [a["address"] for a in reply.json()["results"]] == [
        f"alice@{DOMAIN}", f"alice.liddell@{DOMAIN}"]
    # mail to the new address reaches alice at once
    resolution = await asyncio.to_thread(api.services.accounts.resolve,
                                         f"alice.liddell@{DOMAIN}")
    assert resolution.users == ((DOMAIN, "alice"),)
    reply = await api.call("PUT", f"/users/me/addresses/alice.liddell%40{DOMAIN}",
                           user="alice", json={"main": True})
    assert reply.status == 200
    assert reply.json()["results"][0] == {"address": f"alice.liddell@{DOMAIN}", "main": True}
    me = (await api.call("GET", "/users/me", user="alice")).json()
    assert me["address"] == f"alice.liddell@{DOMAIN}"  # the default sender
    # neither the main address nor the login address can go
    for address in (f"alice.liddell@{DOMAIN}", f"alice@{DOMAIN}"):
        reply = await api.call("DELETE", f"/users/me/addresses/{address}", user="alice")
        assert reply.status == 409, address
    await api.call("PUT", f"/users/me/addresses/alice@{DOMAIN}", user="alice",
                   json={"main": True})
    reply = await api.call("DELETE", f"/users/me/addresses/alice.liddell@{DOMAIN}",
                           user="alice")
    assert reply.status == 200 and len(reply.json()["results"]) == 1
    assert (await api.call("DELETE", f"/users/me/addresses/nope@{DOMAIN}",
                           user="alice")).status == 404


async def test_conflicts_and_scope(api: Api) -> None:
    await asyncio.to_thread(api.services.accounts.set_alias, DOMAIN, "info", [f"bob@{DOMAIN}"])
    for address, status in ((f"bob@{DOMAIN}", 409), (f"info@{DOMAIN}", 409),
                            ("alice@other.org", 403), ("not an address", 400),
                            (f"alice@{DOMAIN}", 409)):
        reply = await api.call("POST", "/users/me/addresses", user="alice",
                               json={"address": address})
        assert reply.status == status, (address, reply.body)
        assert reply.error
    # an admin adds in the domains they administer (an unhosted domain: 404)
    reply = await api.call("POST", f"/users/alice@{DOMAIN}/addresses", user="admin",
                           json={"address": "alice@unhosted.test"})
    assert reply.status == 404
    await asyncio.to_thread(api.services.accounts.add_domain, IDN)
    reply = await api.call("POST", f"/users/alice@{DOMAIN}/addresses", user="admin",
                           json={"address": f"alice@{IDN}", "main": True})
    assert reply.status == 200
    assert reply.json()["results"][0]["address"] == f"alice@{IDN_ASCII}"
    # bob cannot touch alice's addresses
    reply = await api.call("POST", f"/users/alice@{DOMAIN}/addresses", user="bob",
                           json={"address": f"x@{DOMAIN}"})
    assert reply.status == 403


async def test_admin_search(api: Api) -> None:
    accounts = api.services.accounts
    await asyncio.to_thread(accounts.add_domain, "other.org")
    await asyncio.to_thread(accounts.create, "other.org", "carol",
                            await asyncio.to_thread(hash_password, "pw"))
    reply = await api.call("GET", "/addresses?query=CAROL", user="admin")
    assert reply.status == 200
    assert reply.json()["results"] == [
        {"address": "carol@other.org", "user": "carol@other.org", "domain": "other.org"}]
    await asyncio.to_thread(accounts.update, DOMAIN, "bob", admin_domains=["other.org"])
    reply = await api.call("GET", "/addresses?query=", user="bob")
    assert [r["address"] for r in reply.json()["results"]] == ["carol@other.org"]
    assert (await api.call("GET", "/addresses?query=a", user="alice")).status == 403
    assert (await api.call("GET", "/addresses?limit=0", user="admin")).status == 400


async def test_concurrent_adds_all_kept(api: Api) -> None:
    token = await api.token("alice")
    replies = await asyncio.gather(*(
        api.call("POST", "/users/me/addresses", token=token,
                 json={"address": f"a{i}@{DOMAIN}"}) for i in range(6)))
    assert all(r.status == 200 for r in replies)
    final = (await api.call("GET", "/users/me/addresses", token=token)).json()["results"]
    assert {a["address"] for a in final} >= {f"a{i}@{DOMAIN}" for i in range(6)}
