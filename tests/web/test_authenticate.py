"""`POST /authenticate` (global admins and API keys), the lockout over application passwords,
and failed logins that look the same whether or not the user exists."""

from __future__ import annotations

import base64

import pyotp

from tests.web.conftest import DOMAIN, Api, MakeApi, password_of

ALICE = f"alice@{DOMAIN}"


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


async def test_authenticate_for_admins(api: Api) -> None:
    body = {"username": ALICE, "password": password_of("alice"), "scope": "imap",
            "protocol": "imap", "ip": "198.51.100.7"}
    reply = await api.call("POST", "/authenticate", user="admin", json=body)
    assert reply.status == 200
    doc = reply.json()
    assert (doc["success"], doc["id"], doc["username"], doc["scope"], doc["require2fa"]) == (
        True, ALICE, "alice", "imap", False)
    # ordinary users may not test passwords this way
    assert (await api.call("POST", "/authenticate", user="bob", json=body)).status == 403
    assert (await api.call("POST", "/authenticate", json=body)).status == 401
    wrong = await api.call("POST", "/authenticate", user="admin",
                           json={**body, "password": "nope"})
    assert wrong.status == 403 and wrong.error
    for bad in ({**body, "scope": "root"}, {**body, "ip": "not an ip"}, {"username": ALICE},
                {**body, "extra": 1}):
        assert (await api.call("POST", "/authenticate", user="admin", json=bad)).status == 400
    # the given ip is what the user's auth log shows
    log = (await api.call("GET", "/users/me/authlog", user="alice")).json()["results"]
    assert any(e["ip"] == "198.51.100.7" and e["protocol"] == "imap" and
               e["result"] == "success" for e in log)
    assert any(e["ip"] == "198.51.100.7" and e["result"] == "fail" for e in log)


async def test_authenticate_reports_two_factor(api: Api) -> None:
    reply = await api.call("POST", "/users/me/2fa", user="alice")
    totp = pyotp.TOTP(reply.json()["seed"])
    await api.call("PUT", "/users/me/2fa", user="alice", json={"token": totp.now()})
    asp = (await api.call("POST", "/users/me/asps", user="alice", json={
        "description": "x", "scopes": ["smtp"]})).json()
    master = {"username": ALICE, "password": password_of("alice")}
    reply = await api.call("POST", "/authenticate", user="admin", json=master)
    assert reply.status == 200 and reply.json()["require2fa"] == ["totp"]
    reply = await api.call("POST", "/authenticate", user="admin", json={**master,
                                                                      "scope": "smtp"})
    assert reply.status == 403  # master password outside the master scope, 2FA on
    reply = await api.call("POST", "/authenticate", user="admin", json={
        "username": ALICE, "password": asp["password"], "scope": "smtp"})
    assert reply.status == 200 and reply.json()["asp"] == asp["id"]


async def test_lockout_applies_to_app_passwords(make_api: MakeApi) -> None:
    api = await make_api(security={"trusted_networks": [], "lockout_attempts": 3})
    asp = (await api.call("POST", "/users/me/asps", user="alice", json={
        "description": "x", "scopes": ["api"]})).json()["password"]
    assert (await api.call("GET", "/folders", headers=basic(ALICE, asp))).status == 200
    for _ in range(3):  # guesses shaped like application passwords
        reply = await api.call("GET", "/folders", headers=basic(ALICE, "abcdabcdabcdabcd"))
        assert reply.status == 401
    reply = await api.call("GET", "/folders", headers=basic(ALICE, asp))
    assert reply.status == 429 and int(reply.headers["Retry-After"]) >= 1
    log = (await api.call("GET", "/users/me/authlog", user="alice")).json()["results"]
    assert [e["action"] for e in log if e["result"] == "fail"].count("lockout") == 1


async def test_unknown_user_looks_like_a_wrong_password(api: Api) -> None:
    """Same status, body and headers (the time is the same too: an unknown user is checked
    against a dummy argon2 hash; tests never assert timings)."""
    replies = [await api.call("GET", "/folders", headers=basic(login, "wrong password"))
               for login in (ALICE, f"nobody@{DOMAIN}", "nobody@nowhere.test")]
    assert {(r.status, r.body, r.headers.get("WWW-Authenticate")) for r in replies} == {
        (replies[0].status, replies[0].body, replies[0].headers.get("WWW-Authenticate"))}
    logins = [await api.call("POST", "/auth/login", json={"username": u, "password": "x"})
              for u in (ALICE, f"nobody@{DOMAIN}")]
    assert logins[0].status == logins[1].status == 401 and logins[0].body == logins[1].body
