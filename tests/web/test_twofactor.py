"""TOTP over the JSON API with pyotp: enrolment, activation, login with a second factor,
replay and clock skew, recovery codes (single use), turning it off; the secret is not in
`account.json` in clear; the master password stops opening Basic auth."""

from __future__ import annotations

import base64
import time

import pyotp

from tests.web.conftest import DOMAIN, Api, password_of

ALICE = f"alice@{DOMAIN}"


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


async def enable(api: Api, user: str = "alice") -> tuple[pyotp.TOTP, list[str], float]:
    """Two-factor on for `user`: (the TOTP, the recovery codes, the time its first code was
    made for). Later codes in a test use later steps (a used step never comes back)."""
    reply = await api.call("POST", "/users/me/2fa", user=user)
    assert reply.status == 200, reply.body
    doc = reply.json()
    totp = pyotp.TOTP(doc["seed"])
    t0 = time.time()
    reply = await api.call("PUT", "/users/me/2fa", user=user, json={"token": totp.at(t0)})
    assert reply.status == 200, reply.body
    return totp, reply.json()["recoveryCodes"], t0


async def test_enrol_and_activate(api: Api) -> None:
    reply = await api.call("POST", "/users/me/2fa", user="alice")
    assert reply.status == 200
    doc = reply.json()
    assert doc["success"] is True
    assert doc["uri"].startswith("otpauth://totp/") and "secret=" in doc["uri"]
    assert doc["qrcode"].startswith("data:image/png;base64,")
    assert base64.b64decode(doc["qrcode"].split(",", 1)[1]).startswith(b"\x89PNG")
    # not active until a code confirms it: the password alone still logs in
    assert (await api.call("GET", "/users/me", user="alice")).json()["enabled2fa"] == []
    assert (await api.login("alice")).status == 200
    # the secret is encrypted in account.json
    raw = (api.config.mail_root / "domains" / DOMAIN / "users" / "alice" /
           "account.json").read_text()
    assert doc["seed"] not in raw and '"v1:' in raw
    totp = pyotp.TOTP(doc["seed"])
    for token in ("000000" if totp.now() != "000000" else "111111", "abc", ""):
        reply = await api.call("PUT", "/users/me/2fa", user="alice", json={"token": token})
        assert reply.status in (400, 403), token
    reply = await api.call("PUT", "/users/me/2fa", user="alice", json={"token": totp.now()})
    assert reply.status == 200
    codes = reply.json()["recoveryCodes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert (await api.call("GET", "/users/me", user="alice")).json()["enabled2fa"] == ["totp"]
    # a second enrolment is refused while it is on
    assert (await api.call("POST", "/users/me/2fa", user="alice")).status == 409


async def test_login_needs_the_code_once(api: Api) -> None:
    totp, _, t0 = await enable(api)
    reply = await api.login("alice")
    assert reply.status == 401 and reply.json()["require2fa"] == ["totp"]
    login = {"username": "alice", "password": password_of("alice"), "domain": DOMAIN}
    reply = await api.call("POST", "/auth/login", json={**login, "token": "12345x"})
    assert reply.status == 401
    code = totp.at(t0 + 30)  # one step ahead: within the allowed skew
    reply = await api.call("POST", "/auth/login", json={**login, "token": code})
    assert reply.status == 200 and reply.json()["token"]
    # replay of the same code, or of an older one, is refused
    for token in (code, totp.at(t0), totp.at(t0 - 30)):
        reply = await api.call("POST", "/auth/login", json={**login, "token": token})
        assert reply.status == 401, token
    # too far ahead (three steps) is refused
    reply = await api.call("POST", "/auth/login", json={**login, "token": totp.at(t0 + 90)})
    assert reply.status == 401
    # wrong password with a right code is still wrong
    reply = await api.call("POST", "/auth/login", json={**login, "password": "nope",
                                                        "token": totp.at(t0 + 60)})
    assert reply.status == 401


async def test_recovery_codes_are_single_use(api: Api) -> None:
    _, codes, _ = await enable(api)
    login = {"username": "alice", "password": password_of("alice"), "domain": DOMAIN}
    reply = await api.call("POST", "/auth/login", json={**login, "token": codes[0].upper()})
    assert reply.status == 200
    reply = await api.call("POST", "/auth/login", json={**login, "token": codes[0]})
    assert reply.status == 401
    reply = await api.call("POST", "/auth/login", json={**login, "token": codes[1]})
    assert reply.status == 200


async def test_master_password_no_longer_opens_basic(api: Api) -> None:
    assert (await api.call("GET", "/folders",
                           headers=basic(ALICE, password_of("alice")))).status == 200
    await enable(api)
    reply = await api.call("GET", "/folders", headers=basic(ALICE, password_of("alice")))
    assert reply.status == 401
    assert "application password" in reply.error
    reply = await api.call("POST", "/users/me/asps", user="alice",
                           json={"description": "script", "scopes": ["api"]})
    asp = reply.json()["password"]
    assert (await api.call("GET", "/folders", headers=basic(ALICE, asp))).status == 200
    log = (await api.call("GET", "/users/me/authlog?limit=100", user="alice")).json()
    assert any(e["action"] == "enable 2fa" for e in log["results"])
    assert any(e["result"] == "fail" and "two-factor" in e["reason"] for e in log["results"])


async def test_check_and_disable(api: Api) -> None:
    totp, codes, t0 = await enable(api)
    reply = await api.call("GET", f"/users/me/2fa?token={totp.at(t0 + 30)}", user="alice")
    assert reply.status == 200 and reply.json() == {"success": True, "kind": "totp"}
    reply = await api.call("GET", f"/users/me/2fa?token={totp.at(t0 + 30)}", user="alice")
    assert reply.status == 403  # used up
    # users prove both password and a code
    for body in ({}, {"password": password_of("alice")},
                 {"password": "wrong", "token": codes[0]}):
        reply = await api.call("DELETE", "/users/me/2fa", user="alice", json=body)
        assert reply.status in (400, 403), body
    reply = await api.call("DELETE", "/users/me/2fa", user="alice",
                           json={"password": password_of("alice"), "token": codes[0]})
    assert reply.status == 200
    assert (await api.login("alice")).status == 200
    # an admin turns it off for a user without either (and it is logged)
    await enable(api, "bob")
    reply = await api.call("DELETE", f"/users/bob@{DOMAIN}/2fa", user="admin")
    assert reply.status == 200
    assert (await api.login("bob")).status == 200
    log = (await api.call("GET", "/users/me/authlog?action=disable%202fa",
                          user="bob")).json()
    assert log["total"] == 1 and "by admin" in log["results"][0]["reason"]
    # bob cannot touch alice's
    assert (await api.call("POST", f"/users/{ALICE}/2fa", user="bob")).status == 403


async def test_regenerate_recovery_codes(api: Api) -> None:
    totp, codes, t0 = await enable(api)
    reply = await api.call("POST", "/users/me/2fa/recovery", user="alice",
                           json={"token": totp.at(t0 + 30)})
    assert reply.status == 200
    new = reply.json()["recoveryCodes"]
    login = {"username": "alice", "password": password_of("alice"), "domain": DOMAIN}
    assert (await api.call("POST", "/auth/login", json={**login, "token": codes[2]})).status \
        == 401
    assert (await api.call("POST", "/auth/login", json={**login, "token": new[0]})).status \
        == 200
