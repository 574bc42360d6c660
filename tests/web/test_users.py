"""`/users/{user}`: who may reach which account (`resolve_user`), `GET` and `PUT` (display name,
self-service password change with `existingPassword`), over real HTTPS."""

from __future__ import annotations

import asyncio
import base64
import io

from rmail.auth import hash_password
from tests.web.conftest import DOMAIN, Api, password_of

IDN = "bücher.example"
IDN_ASCII = "xn--bcher-kva.example"


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


async def _other_domains(api: Api) -> None:
    """other.org with carol, an IDN domain with dora; `bob` becomes admin of other.org."""
    accounts = api.services.accounts
    digest = await asyncio.to_thread(hash_password, "pw-other")
    for domain, user in (("other.org", "carol"), (IDN, "dora")):
        await asyncio.to_thread(accounts.add_domain, domain)
        await asyncio.to_thread(accounts.create, domain, user, digest)
    await asyncio.to_thread(accounts.update, DOMAIN, "bob", admin_domains=["other.org"])


async def test_me_and_own_address(api: Api) -> None:
    for path in ("/users/me", f"/users/alice@{DOMAIN}", "/users/ALICE%40Example.COM",
                 "/users/ME"):
        reply = await api.call("GET", path, user="alice")
        assert reply.status == 200, (path, reply.body)
        doc = reply.json()
        assert doc["success"] is True
        assert (doc["username"], doc["domain"], doc["address"]) == (
            "alice", DOMAIN, f"alice@{DOMAIN}")
        assert doc["enabled2fa"] == [] and doc["admin_domains"] == []
        assert "password_hash" not in doc and "totp" not in doc


async def test_users_reach_only_themselves(api: Api) -> None:
    await _other_domains(api)
    for path in (f"/users/bob@{DOMAIN}", f"/users/admin@{DOMAIN}",
                 f"/users/nobody@{DOMAIN}", "/users/carol@other.org", "/users/x@nowhere.test"):
        reply = await api.call("GET", path, user="alice")
        assert reply.status == 403, path  # existing or not: the answer reveals nothing
        assert reply.error


async def test_global_admin_reaches_everyone(api: Api) -> None:
    await _other_domains(api)
    for path, user in ((f"/users/alice@{DOMAIN}", "alice"), ("/users/carol@other.org", "carol"),
                       (f"/users/dora@{IDN_ASCII}", "dora"),
                       ("/users/dora@b%C3%BCcher.example", "dora")):
        reply = await api.call("GET", path, user="admin")
        assert reply.status == 200, (path, reply.body)
        assert reply.json()["username"] == user
    assert (await api.call("GET", f"/users/nobody@{DOMAIN}", user="admin")).status == 404
    assert (await api.call("GET", "/users/x@nowhere.test", user="admin")).status == 404


async def test_domain_admin_scope(api: Api) -> None:
    await _other_domains(api)
    reply = await api.call("GET", "/users/carol@other.org", user="bob")
    assert reply.status == 200 and reply.json()["username"] == "carol"
    assert (await api.call("GET", "/users/nobody@other.org", user="bob")).status == 404
    for path in (f"/users/alice@{DOMAIN}", "/users/dora@b%C3%BCcher.example",
                 f"/users/nobody@{DOMAIN}"):
        assert (await api.call("GET", path, user="bob")).status == 403, path
    me = (await api.call("GET", "/users/me", user="bob")).json()
    assert me["admin_domains"] == ["other.org"] and me["admin"] is False
    # an extra address in another domain: scope follows the owner's domain
    await asyncio.to_thread(api.services.accounts.update, DOMAIN, "alice",
                            addresses=["alice@other.org"])
    assert (await api.call("GET", "/users/alice@other.org", user="bob")).status == 403
    assert (await api.call("GET", "/users/alice@other.org", user="alice")).status == 200


async def test_malformed_and_unauthenticated(api: Api) -> None:
    for path in ("/users/alice", "/users/%00", "/users/a@b@", "/users/" + "a" * 400 + "@x.org",
                 "/users/..%2F..%2Fetc", "/users/@example.com"):
        reply = await api.call("GET", path, user="alice")
        assert reply.status in (400, 404), path
        assert reply.error
    assert (await api.call("GET", "/users/me")).status == 401
    assert (await api.call("GET", "/users/me", token="garbage")).status == 401
    reply = await api.call("GET", "/users/me", headers=basic(f"alice@{DOMAIN}", "wrong"))
    assert reply.status == 401
    reply = await api.call("GET", "/users/me",
                           headers=basic(f"alice@{DOMAIN}", password_of("alice")))
    assert reply.status == 200 and reply.json()["username"] == "alice"


async def test_put_name_and_validation(api: Api) -> None:
    reply = await api.call("PUT", "/users/me", user="alice", json={"name": "Alice Liddell"})
    assert reply.status == 200 and reply.json() == {"success": True}
    assert (await api.call("GET", "/users/me", user="alice")).json()["name"] == "Alice Liddell"
    for body in ({}, {"name": 5}, {"nope": 1}, {"name": "x" * 201},
                 {"existingPassword": "alice-password"}, [], "x"):
        reply = await api.call("PUT", "/users/me", user="alice", json=body)
        assert reply.status == 400, body
        assert reply.error
    reply = await api.call("PUT", "/users/me", user="alice", data=b"{", headers={
        "Content-Type": "application/json"})
    assert reply.status == 400
    big = io.BytesIO(b'{"name": "' + b"x" * 1_100_000 + b'"}')
    reply = await api.call("PUT", "/users/me", user="alice", data=big,
                           headers={"Content-Type": "application/json"})
    assert reply.status == 413
    # someone else's account: 403 for users, allowed for the admin
    reply = await api.call("PUT", f"/users/bob@{DOMAIN}", user="alice", json={"name": "B"})
    assert reply.status == 403
    reply = await api.call("PUT", f"/users/bob@{DOMAIN}", user="admin", json={"name": "Bob"})
    assert reply.status == 200
    assert (await api.call("GET", "/users/me", user="bob")).json()["name"] == "Bob"


async def test_self_service_password_change(api: Api) -> None:
    old_token = await api.token("alice")
    reply = await api.call("PUT", "/users/me", user="alice", json={"password": "new-pw-1"})
    assert reply.status == 400 and "existingPassword" in reply.error
    reply = await api.call("PUT", "/users/me", user="alice",
                           json={"password": "new-pw-1", "existingPassword": "wrong"})
    assert reply.status == 403
    assert (await api.login("alice")).status == 200  # nothing changed
    reply = await api.call("PUT", "/users/me", user="alice", json={
        "password": "new-pw-1", "existingPassword": password_of("alice")})
    assert reply.status == 200 and reply.json() == {"success": True}
    # the old password and every earlier token stop working
    assert (await api.login("alice")).status == 401
    assert (await api.call("GET", "/users/me", token=old_token)).status == 401
    assert (await api.login("alice", "new-pw-1")).status == 200
    # an admin sets another user's password without knowing it
    reply = await api.call("PUT", f"/users/alice@{DOMAIN}", user="admin",
                           json={"password": "new-pw-2"})
    assert reply.status == 200
    assert (await api.login("alice", "new-pw-2")).status == 200
    # an admin changing their own password proves it like anyone
    reply = await api.call("PUT", "/users/me", user="admin", json={"password": "x"})
    assert reply.status == 400


async def test_concurrent_puts_all_land(api: Api) -> None:
    token = await api.token("alice")
    replies = await asyncio.gather(*(
        api.call("PUT", "/users/me", token=token, json={"name": f"name {i}"})
        for i in range(8)))
    assert all(r.status == 200 for r in replies)
    name = (await api.call("GET", "/users/me", token=token)).json()["name"]
    assert name in {f"name {i}" for i in range(8)}
