"""Drive authentication: Basic `user@domain:password` or a Bearer JWT; 401 carries
`WWW-Authenticate: Basic` so WebDAV clients prompt; users never see each other's drives."""

from __future__ import annotations

import base64

from rmail.auth.tokens import issue_token
from tests.drive.conftest import DOMAIN, Drive, basic


async def test_missing_and_bad_credentials(drive: Drive) -> None:
    for headers in ({}, {"Authorization": basic("alice", "wrong")},
                    {"Authorization": "Basic !!!"},
                    {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()},
                    {"Authorization": "Bearer not.a.token"}, {"Authorization": "Digest x"}):
        r = await drive.call("GET", "/drive/", user=None, headers=headers)
        assert r.status == 401, headers
        assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert r.error


async def test_basic_and_bearer(drive: Drive) -> None:
    assert (await drive.call("PUT", "/drive/a.txt", data=b"a")).status == 201
    secret = drive.services.config.exchange_api.secret
    account = drive.services.accounts.get(DOMAIN, "alice")
    token = issue_token(secret, "alice", DOMAIN, epoch=account.auth_epoch)
    r = await drive.call("GET", "/drive/a.txt", user=None,
                         headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200 and r.body == b"a"
    stale = issue_token(secret, "alice", DOMAIN, epoch=account.auth_epoch + 1)
    r = await drive.call("GET", "/drive/a.txt", user=None,
                         headers={"Authorization": f"Bearer {stale}"})
    assert r.status == 401
    expired = issue_token(secret, "alice", DOMAIN, ttl=-10)
    assert (await drive.call("GET", "/drive/", user=None,
                             headers={"Authorization": f"Bearer {expired}"})).status == 401


async def test_users_are_isolated(drive: Drive) -> None:
    await drive.call("PUT", "/drive/mine.txt", data=b"alice's")
    r = await drive.call("GET", "/drive/mine.txt", user="bob")
    assert r.status == 404
    assert (await drive.call("GET", "/drive/", user="bob")).json()["children"] == []


async def test_options_without_auth(drive: Drive) -> None:
    r = await drive.call("OPTIONS", "/drive/", user=None)
    assert r.status == 200 and r.headers["DAV"] == "1, 2"
    for verb in ("PROPFIND", "MKCOL", "LOCK", "COPY", "MOVE", "PUT", "POST", "DELETE"):
        assert verb in r.headers["Allow"]
