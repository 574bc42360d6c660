"""The mail controller's REST API over HTTPS: every route with JSON and form bodies, with and
without the trailing slash; API keys and admin tokens; status codes; hostile input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rmail.provisioning.keys import generate_key
from rmail.store.errors import NotFound
from tests.web.conftest import Api, MakeApi, Reply

KEY, KEY_HASH = generate_key()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def ctl(make_api: MakeApi) -> Api:
    return await make_api(provisioning={"api_keys": [KEY_HASH]})


async def call(api: Api, method: str, path: str, *, json: Any = None, form: str | None = None,
               key: str | None = KEY, headers: dict[str, str] | None = None) -> Reply:
    hdrs = dict(headers or {})
    if key is not None:
        hdrs["Authorization"] = f"Bearer {key}"
    if form is not None:
        return await api.call(method, path, data=form.encode(), headers={**FORM, **hdrs})
    if json is not None:
        return await api.call(method, path, json=json, headers=hdrs)
    return await api.call(method, path, headers=hdrs)


async def test_account_lifecycle_json(ctl: Api) -> None:
    created = await call(ctl, "POST", "/mail/account/", json={
        "name": "carol", "domain": "example.com", "password": "carol-pw"})
    assert created.status == 201, created.body
    model = created.json()
    assert model["id"] == "carol@example.com" and model["submission_disabled"] is False
    assert model["spoofing_whitelist"] == "" and model["password"].startswith("$argon2id$")
    assert set(model) == {"id", "name", "domain", "password", "spoofing_whitelist",
                          "submission_disabled"}
    assert (await call(ctl, "GET", "/mail/account/carol@example.com/")).json() == model
    assert (await call(ctl, "GET", "/mail/account/carol@example.com")).json() == model
    listed = (await call(ctl, "GET", "/mail/account/?domain=example.com")).json()
    assert [a["id"] for a in listed] == ["admin@example.com", "alice@example.com",
                                        "bob@example.com", "carol@example.com"]
    assert (await call(ctl, "GET", "/mail/account?domain=nowhere.example")).json() == []
    # a new password in plain text: the stored hash changes and the password works
    changed = await call(ctl, "POST", "/mail/account/carol@example.com/set_password/",
                         json={"password": "new-pw"})
    assert changed.status == 200 and changed.json()["password"] != model["password"]
    assert (await ctl.login("carol", "new-pw")).status == 200
    off = await call(ctl, "POST", "/mail/account/carol@example.com/disable_submission/")
    assert off.json()["submission_disabled"] is True
    on = await call(ctl, "POST", "/mail/account/carol@example.com/enable_submission")
    assert on.json()["submission_disabled"] is False
    wl = await call(ctl, "POST", "/mail/account/carol@example.com/set_spoofing_whitelist/",
                    json={"spoofing_whitelist": "office@example.com, skylime.net"})
    assert wl.json()["spoofing_whitelist"] == "office@example.com,@skylime.net"
    account = ctl.services.accounts.get("example.com", "carol")
    assert account.may_send_as("someone@skylime.net") and account.may_send_as("office@example.com")
    assert not account.may_send_as("bob@example.com")
    assert account.origin == "rest"
    deleted = await call(ctl, "DELETE", "/mail/account/carol@example.com/")
    assert deleted.status == 204 and deleted.body == b""
    assert (await call(ctl, "GET", "/mail/account/carol@example.com/")).status == 404
    assert (await call(ctl, "DELETE", "/mail/account/carol@example.com")).status == 404
    assert (await ctl.login("carol", "new-pw")).status == 401
    with pytest.raises(NotFound):
        ctl.services.accounts.resolve("carol@example.com")


async def test_account_lifecycle_form(ctl: Api) -> None:
    created = await call(ctl, "POST", "/mail/account", form=(
        "name=Dave&domain=new.example&password=p%26w&submission_disabled=on"
        "&spoofing_whitelist=*"))
    assert created.status == 201, created.body
    assert created.json() | {"password": ""} == {
        "id": "dave@new.example", "name": "dave", "domain": "new.example", "password": "",
        "spoofing_whitelist": "*", "submission_disabled": True}
    assert ctl.services.accounts.has_domain("new.example")  # the controller's domain is made
    assert (await ctl.login("dave@new.example", "p&w")).status == 200
    reply = await call(ctl, "POST", "/mail/account/dave@new.example/set_spoofing_whitelist",
                       form="spoofing_whitelist=%40example.org")
    assert reply.json()["spoofing_whitelist"] == "@example.org"
    reply = await call(ctl, "POST", "/mail/account/dave@new.example/set_password/",
                       form="password=again")
    assert reply.status == 200
    assert (await call(ctl, "POST", "/mail/account/dave@new.example/disable_submission/",
                       form="")).json()["submission_disabled"] is True


@pytest.mark.parametrize(("value", "disabled"), [("true", True), ("false", False), ("1", True),
                                                  ("0", False), ("on", True), ("off", False)])
async def test_form_booleans(ctl: Api, value: str, disabled: bool) -> None:
    reply = await call(ctl, "POST", "/mail/account/", form=(
        f"name=b{value}&domain=example.com&password=pw&submission_disabled={value}"))
    assert reply.status == 201, reply.body
    assert reply.json()["submission_disabled"] is disabled


async def test_alias_lifecycle(ctl: Api) -> None:
    created = await call(ctl, "POST", "/mail/alias/", json={
        "name": "office", "domain": "example.com", "to": "alice@example.com,bob@example.com"})
    assert created.status == 201, created.body
    assert created.json() == {"id": "office@example.com", "name": "office",
                              "domain": "example.com", "to": "alice@example.com,bob@example.com"}
    assert ctl.services.accounts.resolve("office@example.com").users == (
        ("example.com", "alice"), ("example.com", "bob"))
    assert (await call(ctl, "GET", "/mail/alias/office@example.com")).json() == created.json()
    assert [a["id"] for a in (await call(ctl, "GET", "/mail/alias")).json()] == \
        ["office@example.com"]
    put = await call(ctl, "PUT", "/mail/alias/office@example.com/",
                     form="to=bob%40example.com%2Cext%40elsewhere.example")
    assert put.json()["to"] == "bob@example.com,ext@elsewhere.example"
    put = await call(ctl, "PUT", "/mail/alias/office@example.com",
                     json={"id": "office@example.com", "to": "alice@example.com"})
    assert put.status == 200 and put.json()["to"] == "alice@example.com"
    assert (await call(ctl, "POST", "/mail/alias", form=(
        "name=office&domain=example.com&to=bob%40example.com"))).status == 409
    assert (await call(ctl, "DELETE", "/mail/alias/office@example.com/")).status == 204
    assert (await call(ctl, "GET", "/mail/alias/office@example.com/")).status == 404
    assert (await call(ctl, "PUT", "/mail/alias/office@example.com/",
                       json={"to": "bob@example.com"})).status == 404
    assert (await call(ctl, "DELETE", "/mail/alias/office@example.com")).status == 404
    # a new domain is created for an alias too
    other = await call(ctl, "POST", "/mail/alias/", form=(
        "name=info&domain=other.example&to=alice%40example.com"))
    assert other.status == 201 and ctl.services.accounts.has_domain("other.example")


async def test_conflicts_and_validation(ctl: Api) -> None:
    dup = await call(ctl, "POST", "/mail/account/", json={
        "name": "alice", "domain": "example.com", "password": "x"})
    assert dup.status == 409
    await call(ctl, "POST", "/mail/alias/", json={"name": "team", "domain": "example.com",
                                                  "to": "bob@example.com"})
    clash = await call(ctl, "POST", "/mail/account/", json={
        "name": "team", "domain": "example.com", "password": "x"})
    assert clash.status == 409
    clash = await call(ctl, "POST", "/mail/alias/", json={
        "name": "alice", "domain": "example.com", "to": "bob@example.com"})
    assert clash.status == 409
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/mail/account/", {"domain": "example.com", "password": "x"}, "name"),
        ("/mail/account/", {"name": "a b", "domain": "example.com", "password": "x"}, "name"),
        ("/mail/account/", {"name": "ok", "domain": "-x-", "password": "x"}, "domain"),
        ("/mail/account/", {"name": "ok", "domain": "example.com"}, "password"),
        ("/mail/account/", {"name": "ok", "domain": "example.com", "password": ""}, "password"),
        ("/mail/account/", {"name": "ok", "domain": "example.com", "password": "x",
                            "submission_disabled": "maybe"}, "submission_disabled"),
        ("/mail/account/", {"name": "ok", "domain": "example.com", "password": "x",
                            "spoofing_whitelist": "not an address@"}, "spoofing_whitelist"),
        ("/mail/account/", {"name": 5, "domain": "example.com", "password": "x"}, "name"),
        ("/mail/alias/", {"name": "l", "domain": "example.com", "to": "ghost@example.com"},
         "to"),
        ("/mail/alias/", {"name": "l", "domain": "example.com", "to": ""}, "to"),
        ("/mail/alias/", {"name": "l@x", "domain": "example.com", "to": "bob@example.com"},
         "name"),
    ]
    for path, body, field in cases:
        reply = await call(ctl, "POST", path, json=body)
        assert reply.status == 400, (body, reply.body)
        assert reply.error.startswith(f"{field}:"), (body, reply.error)
    unknown = await call(ctl, "POST", "/mail/account/", json={"name": "x", "extra": 1})
    assert unknown.status == 400 and "extra" in unknown.error
    twice = await call(ctl, "POST", "/mail/account/", form="name=a&name=b")
    assert twice.status == 400
    assert (await call(ctl, "POST", "/mail/account/", json=[1])).status == 400
    bad_type = await call(ctl, "POST", "/mail/account/", headers={"Content-Type": "text/plain"})
    assert bad_type.status == 415
    huge = await call(ctl, "POST", "/mail/account/", form="name=" + "a" * 70_000)
    assert huge.status == 413
    assert ctl.services.accounts.find_address("ok@example.com") is None


async def test_hostile_ids(ctl: Api) -> None:
    for path in ("/mail/account/..%2F..%2Fetc@example.com/", "/mail/account/a@..%2F..",
                 "/mail/account/%00@example.com/", "/mail/account/notanaddress/",
                 "/mail/account/UPPER@EXAMPLE.COM/set_password/",
                 "/mail/alias/..@example.com/"):
        method = "POST" if path.endswith("set_password/") else "GET"
        reply = await call(ctl, method, path, json={"password": "x"} if method == "POST"
                           else None)
        assert reply.status in (400, 404), (path, reply.status)
        assert reply.error
    # a mixed-case address is the same account (addresses are case-insensitive)
    reply = await call(ctl, "GET", "/mail/account/Alice@Example.COM/")
    assert reply.status == 200 and reply.json()["id"] == "alice@example.com"


async def test_authentication(ctl: Api) -> None:
    assert (await call(ctl, "GET", "/mail/account/", key=None)).status == 401
    assert (await call(ctl, "GET", "/mail/account/", key="rmk_wrong")).status == 401
    assert (await call(ctl, "GET", "/mail/account/", key=await ctl.token("alice"))).status \
        == 403
    admin = await call(ctl, "GET", "/mail/account/", key=await ctl.token("admin"))
    assert admin.status == 200
    assert (await call(ctl, "GET", "/mail/alias/", key=KEY)).status == 200


async def test_api_keys_not_configured(api: Api) -> None:
    assert (await call(api, "GET", "/mail/account/", key=KEY)).status == 401
    admin = await call(api, "GET", "/mail/account/", key=await api.token("admin"))
    assert admin.status == 200


async def test_plain_http_from_outside_trusted_networks(make_api: MakeApi) -> None:
    api = await make_api(app_only=True, provisioning={"api_keys": [KEY_HASH]},
                         security={"trusted_networks": []})
    reply = await call(api, "GET", "/mail/account/")
    assert reply.status == 403 and "HTTPS" in reply.error


async def test_concurrent_creates_of_one_name(ctl: Api) -> None:
    replies = await asyncio.gather(*(call(ctl, "POST", "/mail/account/", json={
        "name": "race", "domain": "example.com", "password": f"pw{i}"}) for i in range(6)))
    assert sorted(r.status for r in replies) == [201] + [409] * 5
    replies = await asyncio.gather(*(call(ctl, "POST", "/mail/alias/", json={
        "name": "list", "domain": "example.com", "to": "bob@example.com"}) for i in range(6)))
    assert sorted(r.status for r in replies) == [201] + [409] * 5


async def test_multipart_form(ctl: Api) -> None:
    import aiohttp

    form = aiohttp.FormData()
    for key, value in (("name", "multi"), ("domain", "example.com"), ("password", "pw"),
                       ("submission_disabled", "yes")):
        form.add_field(key, value)
    reply = await ctl.call("POST", "/mail/account/", data=form,
                           headers={"Authorization": f"Bearer {KEY}"})
    assert reply.status == 201, reply.body
    assert reply.json()["submission_disabled"] is True
    broken = await call(ctl, "POST", "/mail/account/",
                        headers={"Content-Type": "multipart/form-data"})
    assert broken.status == 400
