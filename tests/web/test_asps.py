"""Application passwords over the JSON API: create (shown once), list, revoke; scopes at the
HTTP front door (`api` for Basic on the JSON API), never for `POST /auth/login`; revocation
seen at once (also by another worker when the suite runs with two); auth log entries."""

from __future__ import annotations

import asyncio
import base64
import re

from tests.web.conftest import DOMAIN, Api, password_of

ALICE = f"alice@{DOMAIN}"


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


async def create(api: Api, scopes: list[str], user: str = "alice",
                 description: str = "phone") -> dict[str, object]:
    reply = await api.call("POST", "/users/me/asps", user=user,
                           json={"description": description, "scopes": scopes})
    assert reply.status == 200, reply.body
    return reply.json()  # type: ignore[no-any-return]


async def test_create_list_delete(api: Api) -> None:
    made = await create(api, ["imap", "smtp", "imap"])
    assert made["success"] is True
    assert re.fullmatch(r"[a-z]{16}", str(made["password"]))
    assert made["scopes"] == ["imap", "smtp"] and made["description"] == "phone"
    listed = (await api.call("GET", "/users/me/asps", user="alice")).json()
    assert listed["success"] is True
    [entry] = listed["results"]
    assert entry["id"] == made["id"] and "password" not in entry and "hash" not in entry
    assert entry["last_used"] is None
    # the admin sees and manages it too; bob does not
    assert (await api.call("GET", f"/users/{ALICE}/asps", user="admin")).json()["results"]
    assert (await api.call("GET", f"/users/{ALICE}/asps", user="bob")).status == 403
    reply = await api.call("DELETE", f"/users/me/asps/{made['id']}", user="alice")
    assert reply.status == 200 and reply.json() == {"success": True}
    assert (await api.call("DELETE", f"/users/me/asps/{made['id']}", user="alice")).status == 404
    assert (await api.call("DELETE", "/users/me/asps/..%2F..", user="alice")).status == 404
    assert (await api.call("GET", "/users/me/asps", user="alice")).json()["results"] == []


async def test_validation(api: Api) -> None:
    for body in ({"description": "x"}, {"scopes": ["imap"]},
                 {"description": "", "scopes": ["imap"]},
                 {"description": "x", "scopes": []}, {"description": "x", "scopes": ["root"]},
                 {"description": "x", "scopes": "imap"}, {"description": "a\nb", "scopes": ["*"]},
                 {"description": "x" * 201, "scopes": ["imap"]},
                 {"description": "x", "scopes": ["imap"], "password": "mine"}):
        reply = await api.call("POST", "/users/me/asps", user="alice", json=body)
        assert reply.status == 400, body
        assert reply.error
    assert (await api.call("POST", "/users/me/asps", json={})).status == 401


async def test_api_scope_at_the_front_door(api: Api) -> None:
    api_pw = str((await create(api, ["api"]))["password"])
    imap_pw = str((await create(api, ["imap"]))["password"])
    star_pw = str((await create(api, ["*"]))["password"])
    # Basic on the JSON API: api and * work, imap does not
    for password, status in ((api_pw, 200), (star_pw, 200), (imap_pw, 401)):
        reply = await api.call("GET", "/folders", headers=basic(ALICE, password))
        assert reply.status == status, password
    # typed with spaces and capitals, as people copy it
    spaced = " ".join(api_pw[i:i + 4] for i in range(0, 16, 4)).upper()
    assert (await api.call("GET", "/folders", headers=basic(ALICE, spaced))).status == 200
    # never the master scope: no token from /auth/login with an application password
    for password in (api_pw, star_pw):
        assert (await api.login("alice", password)).status == 401
    # an application-password login cannot manage account security
    reply = await api.call("GET", "/users/me/asps", headers=basic(ALICE, star_pw))
    assert reply.status == 403
    reply = await api.call("PUT", "/users/me", headers=basic(ALICE, star_pw),
                           json={"password": "x", "existingPassword": password_of("alice")})
    assert reply.status == 403
    # but it reads the account
    reply = await api.call("GET", "/users/me", headers=basic(ALICE, star_pw))
    assert reply.status == 200


async def test_revocation_is_immediate(api: Api) -> None:
    made = await create(api, ["api"])
    password = str(made["password"])
    for _ in range(4):  # verified and cached (in whichever worker answers)
        assert (await api.call("GET", "/folders", headers=basic(ALICE, password))).status == 200
    await api.call("DELETE", f"/users/me/asps/{made['id']}", user="alice")
    for _ in range(4):
        assert (await api.call("GET", "/folders", headers=basic(ALICE, password))).status == 401


async def test_last_use_and_auth_log(api: Api) -> None:
    made = await create(api, ["api"])
    reply = await api.call("GET", "/folders", headers={
        **basic(ALICE, str(made["password"])), "User-Agent": "TestClient/1.0"})
    assert reply.status == 200
    [entry] = (await api.call("GET", "/users/me/asps", user="alice")).json()["results"]
    assert entry["last_used"] and entry["last_ip"] == "127.0.0.1"
    await api.call("GET", "/folders", headers=basic(ALICE, "wrong password"))
    log = (await api.call("GET", "/users/me/authlog?limit=50", user="alice")).json()
    actions = [(e["action"], e["result"], e["asp"]) for e in log["results"]]
    assert ("create asp", "success", made["id"]) in actions
    assert ("authentication", "success", made["id"]) in actions
    assert ("authentication", "fail", "") in actions
    used = next(e for e in log["results"] if e["asp"] == made["id"] and
                e["action"] == "authentication")
    assert (used["protocol"], used["scope"], used["ip"], used["userAgent"]) == (
        "api", "api", "127.0.0.1", "TestClient/1.0")


async def test_concurrent_creates_all_kept(api: Api) -> None:
    token = await api.token("alice")
    replies = await asyncio.gather(*(
        api.call("POST", "/users/me/asps", token=token,
                 json={"description": f"client {i}", "scopes": ["imap"]}) for i in range(6)))
    assert all(r.status == 200 for r in replies)
    listed = (await api.call("GET", "/users/me/asps", token=token)).json()["results"]
    assert sorted(e["description"] for e in listed) == [f"client {i}" for i in range(6)]
