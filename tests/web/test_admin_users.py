"""Admin user management: shapes, defaults, validation, 403 for non-admins."""

from __future__ import annotations

import pytest

from tests.web.conftest import DOMAIN, Api

USER_FIELDS = {"username", "domain", "enabled", "admin", "quota_mb", "created"}


async def test_list_users(api: Api) -> None:
    reply = await api.call("GET", f"/admin/users?domain={DOMAIN}", user="admin")
    assert reply.status == 200
    users = reply.json()["users"]
    assert [u["username"] for u in users] == ["admin", "alice", "bob"]
    alice = users[1]
    assert set(alice) >= USER_FIELDS
    assert (alice["domain"], alice["enabled"], alice["admin"], alice["quota_mb"]) == (
        DOMAIN, True, False, 1024)
    assert alice["created"].endswith("+00:00")
    assert "password_hash" not in alice
    # domain defaults to the admin's own
    assert (await api.call("GET", "/admin/users", user="admin")).json()["users"] == users
    assert (await api.call("GET", "/admin/users?domain=nope.test", user="admin")).status == 404
    assert (await api.call("GET", "/admin/users?domain=bad..name", user="admin")).status == 400


async def test_create_user_with_defaults_and_fields(api: Api) -> None:
    reply = await api.call("POST", "/admin/users", user="admin",
                           json={"username": "carol", "password": "secret123",
                                 "domain": DOMAIN})
    assert reply.status == 201
    carol = reply.json()
    assert set(carol) >= USER_FIELDS
    assert (carol["username"], carol["admin"], carol["quota_mb"], carol["enabled"]) == (
        "carol", False, 1024, True)
    assert (await api.login("carol", "secret123")).status == 200
    reply = await api.call("POST", "/admin/users", user="admin",
                           json={"username": "dave", "password": "pw", "admin": True,
                                 "quota_mb": 2048})
    assert reply.status == 201
    assert (reply.json()["domain"], reply.json()["admin"], reply.json()["quota_mb"]) == (
        DOMAIN, True, 2048)
    # A new admin can use the admin API.
    dave = (await api.login("dave", "pw")).json()["token"]
    assert (await api.call("GET", "/admin/users", token=dave)).status == 200
    dup = await api.call("POST", "/admin/users", user="admin",
                         json={"username": "carol", "password": "x"})
    assert dup.status == 409 and dup.error


@pytest.mark.parametrize("body", [
    {"username": "Carol", "password": "x"},
    {"username": "ca rol", "password": "x"},
    {"username": "../etc", "password": "x"},
    {"username": "", "password": "x"},
    {"username": "carol", "password": ""},
    {"username": "carol", "password": "x" * 1025},
    {"username": "carol"},
    {"password": "x"},
    {"username": "carol", "password": "x", "quota_mb": 0},
    {"username": "carol", "password": "x", "quota_mb": 1048577},
    {"username": "carol", "password": "x", "quota_mb": "10"},
    {"username": "carol", "password": "x", "admin": "yes"},
    {"username": "carol", "password": "x", "domain": "not a domain"},
    {"username": "carol", "password": "x", "role": "admin"},
])
async def test_create_user_validation(api: Api, body: dict[str, object]) -> None:
    reply = await api.call("POST", "/admin/users", user="admin", json=body)
    assert reply.status == 400, body
    assert reply.error


async def test_get_patch_user(api: Api) -> None:
    got = await api.call("GET", f"/admin/users/alice?domain={DOMAIN}", user="admin")
    assert got.status == 200 and got.json()["username"] == "alice"
    assert (await api.call("GET", "/admin/users/nobody", user="admin")).status == 404
    patched = await api.call("PATCH", f"/admin/users/alice?domain={DOMAIN}", user="admin",
                             json={"quota_mb": 2048, "admin": True})
    assert patched.status == 200
    body = patched.json()
    assert (body["quota_mb"], body["admin"], body["enabled"]) == (2048, True, True)
    unchanged = await api.call("PATCH", "/admin/users/alice", user="admin", json={})
    assert unchanged.json()["quota_mb"] == 2048
    disabled = await api.call("PATCH", "/admin/users/alice", user="admin",
                              json={"enabled": False})
    assert disabled.json()["enabled"] is False
    no_pop3 = await api.call("PATCH", "/admin/users/alice", user="admin",
                             json={"pop3_enabled": False})
    assert no_pop3.status == 200 and no_pop3.json()["pop3_enabled"] is False
    assert (await api.login("alice")).status == 401
    for bad in ({"quota_mb": 0}, {"enabled": "no"}, {"password": "x"}, {"username": "z"},
                {"pop3_enabled": 1}):
        reply = await api.call("PATCH", "/admin/users/bob", user="admin", json=bad)
        assert reply.status == 400, bad
    assert (await api.call("PATCH", "/admin/users/nobody", user="admin",
                           json={"enabled": True})).status == 404


async def test_admin_cannot_lock_themselves_out(api: Api) -> None:
    for body in ({"enabled": False}, {"admin": False}):
        reply = await api.call("PATCH", "/admin/users/admin", user="admin", json=body)
        assert reply.status == 409, body
    assert (await api.call("DELETE", "/admin/users/admin", user="admin")).status == 409


async def test_delete_user(api: Api) -> None:
    reply = await api.call("DELETE", f"/admin/users/bob?domain={DOMAIN}", user="admin")
    assert reply.status == 200
    assert reply.json() == {"username": "bob", "domain": DOMAIN, "deleted": True}
    assert not (api.config.mail_root / "domains" / DOMAIN / "users" / "bob").exists()
    assert (await api.call("GET", "/admin/users/bob", user="admin")).status == 404
    assert (await api.call("DELETE", "/admin/users/bob", user="admin")).status == 404
    assert (await api.login("bob")).status == 401


async def test_change_password(api: Api) -> None:
    reply = await api.call("PUT", f"/admin/users/bob/password?domain={DOMAIN}", user="admin",
                           json={"password": "new-secure-password"})
    assert reply.status == 200
    assert (await api.login("bob", "new-secure-password")).status == 200
    for bad in ({"password": ""}, {}, {"password": 5}):
        assert (await api.call("PUT", "/admin/users/bob/password", user="admin",
                               json=bad)).status == 400
    assert (await api.call("PUT", "/admin/users/nobody/password", user="admin",
                           json={"password": "x"})).status == 404


ADMIN_ROUTES = [
    ("GET", "/admin/users", None),
    ("POST", "/admin/users", {"username": "eve", "password": "x"}),
    ("GET", "/admin/users/bob", None),
    ("PATCH", "/admin/users/bob", {"admin": True}),
    ("DELETE", "/admin/users/bob", None),
    ("PUT", "/admin/users/bob/password", {"password": "x"}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
async def test_non_admins_get_403_and_anonymous_401(api: Api, method: str, path: str,
                                                    body: object) -> None:
    kwargs = {"json": body} if body is not None else {}
    forbidden = await api.call(method, path, user="alice", **kwargs)  # type: ignore[arg-type]
    assert forbidden.status == 403
    assert forbidden.error == "Admin privileges required"
    anonymous = await api.call(method, path, **kwargs)  # type: ignore[arg-type]
    assert anonymous.status == 401
    still = await api.call("GET", "/admin/users/bob", user="admin")
    assert still.json()["admin"] is False


async def test_revoked_admin_loses_access_at_once(api: Api) -> None:
    await api.call("PATCH", "/admin/users/alice", user="admin", json={"admin": True})
    token = (await api.login("alice")).json()["token"]
    assert (await api.call("GET", "/admin/users", token=token)).status == 200
    await api.call("PATCH", "/admin/users/alice", user="admin", json={"admin": False})
    assert (await api.call("GET", "/admin/users", token=token)).status == 403
