"""POST /auth/login, tokens (expired, tampered, revoked), Basic auth, lockout."""

from __future__ import annotations

import base64
import time

import jwt

from rmail.auth.tokens import decode_token, issue_token
from tests.web.conftest import DOMAIN, Api, MakeApi, password_of


async def test_login_returns_token_username_domain_expires_in(api: Api) -> None:
    reply = await api.login("alice")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"token", "username", "domain", "expires_in"}
    assert (body["username"], body["domain"], body["expires_in"]) == ("alice", DOMAIN, 3600)
    claims = decode_token(api.services.config.exchange_api.secret, body["token"])
    assert (claims.username, claims.domain) == ("alice", DOMAIN)
    folders = await api.call("GET", "/folders", token=body["token"])
    assert folders.status == 200


async def test_login_with_address_and_without_domain(api: Api) -> None:
    reply = await api.call("POST", "/auth/login",
                           json={"username": "alice@example.com", "password": "alice-password"})
    assert reply.status == 200
    assert reply.json()["username"] == "alice"
    # A bare username without a domain: the first configured domain.
    reply = await api.call("POST", "/auth/login",
                           json={"username": "bob", "password": "bob-password"})
    assert reply.status == 200
    assert (reply.json()["username"], reply.json()["domain"]) == ("bob", DOMAIN)


async def test_token_ttl_from_config(make_api: MakeApi) -> None:
    api = await make_api(exchange_api={"token_ttl": 120, "token_secret": "s" * 40})
    body = (await api.login("alice")).json()
    assert body["expires_in"] == 120
    claims = jwt.decode(body["token"], "s" * 40, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 120


async def test_login_failures(api: Api) -> None:
    wrong = await api.login("alice", "nope")
    assert wrong.status == 401
    assert wrong.error == "Invalid credentials"
    unknown = await api.login("nobody")
    assert (unknown.status, unknown.error) == (401, "Invalid credentials")
    missing = await api.call("POST", "/auth/login", json={"username": "alice"})
    assert missing.status == 400 and "password" in missing.error
    wrong_type = await api.call("POST", "/auth/login", json={"username": 5, "password": "x"})
    assert wrong_type.status == 400
    extra = await api.call("POST", "/auth/login",
                           json={"username": "alice", "password": "x", "admin": True})
    assert extra.status == 400
    for body in (b"{not json", b"", b"[1, 2]", b'"alice"', b"\xff\xfe"):
        bad = await api.call("POST", "/auth/login", data=body,
                             headers={"Content-Type": "application/json"})
        assert bad.status == 400, body
        assert bad.error


async def test_disabled_account_cannot_log_in(api: Api) -> None:
    token = await api.token("alice")
    await api.call("PATCH", f"/admin/users/alice?domain={DOMAIN}", user="admin",
                   json={"enabled": False})
    assert (await api.login("alice")).status == 401
    assert (await api.call("GET", "/folders", token=token)).status == 401


async def test_missing_malformed_expired_and_tampered_tokens(api: Api) -> None:
    secret = api.services.config.exchange_api.secret
    none = await api.call("GET", "/folders")
    assert (none.status, none.error) == (401, "Authentication required")
    assert none.headers["WWW-Authenticate"].startswith("Bearer")
    for header in ("Bearer", "Bearer garbage", "Token abc", "Basic !!!"):
        reply = await api.call("GET", "/folders", headers={"Authorization": header})
        assert reply.status == 401, header
        assert reply.error
    expired = issue_token(secret, "alice", DOMAIN, ttl=60, now=time.time() - 3600)
    reply = await api.call("GET", "/folders", token=expired)
    assert (reply.status, reply.error) == (401, "Token expired")
    good = await api.token("alice")
    head, payload, signature = good.split(".")
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    assert (await api.call("GET", "/folders", token=f"{head}.{payload}.{flipped}")).status == 401
    # Re-signed with another key, or claiming to be someone else with the old signature.
    forged = issue_token("x" * 40, "admin", DOMAIN, admin=True)
    assert (await api.call("GET", "/admin/users", token=forged)).status == 401
    other = issue_token(secret, "bob", DOMAIN).split(".")[1]
    assert (await api.call("GET", "/folders", token=f"{head}.{other}.{signature}")).status == 401
    unsigned = jwt.encode({"sub": "alice@example.com", "u": "alice", "d": DOMAIN, "ep": 0,
                           "iat": int(time.time()), "exp": int(time.time()) + 60},
                          None, algorithm="none")  # type: ignore[arg-type]
    assert (await api.call("GET", "/folders", token=unsigned)).status == 401


async def test_password_change_and_deletion_revoke_tokens(api: Api) -> None:
    token = await api.token("alice")
    reply = await api.call("PUT", f"/admin/users/alice/password?domain={DOMAIN}",
                           user="admin", json={"password": "new-password"})
    assert reply.status == 200
    assert (await api.call("GET", "/folders", token=token)).status == 401
    assert (await api.login("alice")).status == 401
    assert (await api.login("alice", "new-password")).status == 200
    bob = await api.token("bob")
    assert (await api.call("DELETE", "/admin/users/bob", user="admin")).status == 200
    assert (await api.call("GET", "/folders", token=bob)).status == 401


async def test_basic_auth(api: Api) -> None:
    def basic(login: str, password: str) -> dict[str, str]:
        raw = base64.b64encode(f"{login}:{password}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    ok = await api.call("GET", "/folders", headers=basic("alice@example.com", "alice-password"))
    assert ok.status == 200
    bad = await api.call("GET", "/folders", headers=basic("alice@example.com", "wrong"))
    assert (bad.status, bad.error) == (401, "Invalid credentials")


async def test_lockout_after_failed_logins(make_api: MakeApi) -> None:
    api = await make_api(security={"trusted_networks": [], "lockout_attempts": 3})
    for _ in range(3):
        assert (await api.login("alice", "wrong")).status == 401
    locked = await api.login("alice")  # even the right password
    assert locked.status == 429
    assert locked.error
    assert int(locked.headers["Retry-After"]) >= 1
    basic = await api.call("GET", "/folders", headers={
        "Authorization": "Basic " + base64.b64encode(b"alice@example.com:alice-password").decode()})
    assert basic.status == 429
    assert (await api.login("bob")).status == 429  # the IP is locked, not the account


async def test_loopback_is_exempt_from_lockout_by_default(api: Api) -> None:
    for _ in range(8):
        assert (await api.login("alice", "wrong")).status == 401
    assert (await api.login("alice")).status == 200


async def test_rate_limit(make_api: MakeApi) -> None:
    api = await make_api(security={"trusted_networks": [], "rate_limit_per_minute": 5})
    statuses = [(await api.call("GET", "/healthz")).status for _ in range(8)]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]
    limited = await api.call("GET", "/folders")
    assert limited.status == 429
    assert limited.error == "Rate limit exceeded"
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["Access-Control-Allow-Origin"] == "*"


def test_password_helper() -> None:
    assert password_of("x") == "x-password"
