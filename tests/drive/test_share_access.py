"""Public share links: every permission combination against every verb, expiry, the share
root, HTML redirects, and attempts to step outside the shared subtree."""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp
import pytest

from tests.drive.conftest import Drive

COMBOS = ["R" + "".join(c) for n in range(4) for c in itertools.combinations("CUD", n)]


async def make_share(drive: Drive, target: str, permissions: str, **extra: Any) -> str:
    r = await drive.call("POST", "/drive/_share", json_body={
        "target_path": target, "permissions": permissions, **extra})
    assert r.status == 201, r.body
    return f"/drive/{r.json()['uid']}/{r.json()['name'].replace(' ', '%20')}"


def upload(name: str, content: bytes) -> aiohttp.MultipartWriter:
    writer = aiohttp.MultipartWriter("form-data")
    part = writer.append(content)
    part.headers["Content-Disposition"] = f'form-data; name="f"; filename="{name}"'
    return writer


@pytest.mark.parametrize("perms", COMBOS)
async def test_permission_matrix(drive: Drive, perms: str) -> None:
    await drive.call("PUT", "/drive/projects/alpha/existing.txt", data=b"old")
    await drive.call("PUT", "/drive/projects/alpha/sub/inner.txt", data=b"in")
    link = await make_share(drive, "projects/alpha", perms)

    async def anon(method: str, path: str, **kw: Any) -> int:
        return (await drive.call(method, link + path, user=None, **kw)).status

    def want(letter: str, ok: int) -> int:
        return ok if letter in perms else 403

    r = await drive.call("GET", link, user=None)
    assert r.status == 200 and {c["name"] for c in r.json()["children"]} == {"existing.txt",
                                                                            "sub"}
    assert r.json()["path"] == "" and r.json()["children"][0]["path"] == "sub"
    assert (await drive.call("GET", link + "/existing.txt", user=None)).body == b"old"
    assert await anon("HEAD", "/existing.txt") == 200
    assert await anon("PROPFIND", "/sub") == 200
    assert await anon("PUT", "/new.txt", data=b"n") == want("C", 201)
    assert await anon("PUT", "/existing.txt", data=b"changed") == want("U", 200)
    assert await anon("POST", "/up", data=upload("a/b.txt", b"x")) == want("U", 201)
    assert await anon("POST", "/made?action=mkdir") == want("C", 201)
    assert await anon("MKCOL", "/col") == want("C", 201)
    assert await anon("DELETE", "/sub/inner.txt") == want("D", 204)
    assert await anon("DELETE", "/sub") == want("D", 204)
    assert await anon("DELETE", "") == 403  # never the share root, even with D
    assert await anon("MOVE", "/existing.txt",
                      headers={"Destination": link + "/moved.txt"}) == 403
    assert await anon("COPY", "/existing.txt",
                      headers={"Destination": link + "/copied.txt"}) == 403
    assert await anon("LOCK", "/existing.txt") == 403
    assert (await drive.call("GET", "/drive/projects/alpha", user="alice")).status == 200
    t = drive.totals("alice", "projects/alpha")
    files = 2 + ("C" in perms) + ("U" in perms) - ("D" in perms)
    assert t["total_files"] == files
    assert drive.totals()["total_files"] == files


async def test_file_share(drive: Drive) -> None:
    await drive.call("PUT", "/drive/docs/budget.xlsx", data=b"numbers")
    link = await make_share(drive, "docs/budget.xlsx", "RU", name="Q3 Budget")
    r = await drive.call("GET", link, user=None)
    assert r.status == 200 and r.body == b"numbers" and r.headers["ETag"]
    # the name segment is decorative: the UID alone resolves the share
    uid = link.split("/")[2]
    assert (await drive.call("GET", f"/drive/{uid}/anything-else", user=None)).body == b"numbers"
    assert (await drive.call("GET", f"/drive/{uid}", user=None)).body == b"numbers"
    assert (await drive.call("PUT", link, user=None, data=b"new")).status == 200
    assert (await drive.call("GET", "/drive/docs/budget.xlsx")).body == b"new"
    assert (await drive.call("GET", link + "/below", user=None)).status in (404, 409)
    # a browser gets the file itself, not a redirect
    r = await drive.call("GET", link, user=None, headers={"Accept": "text/html"})
    assert r.status == 200 and r.body == b"new"


async def test_directory_html_redirect(drive: Drive) -> None:
    await drive.call("PUT", "/drive/pics/a.jpg", data=b"a")
    link = await make_share(drive, "pics", "R")
    r = await drive.call("GET", link, user=None, headers={"Accept": "text/html,*/*"})
    assert r.status == 302 and r.headers["Location"] == drive.base + "/webmail" + link
    r = await drive.call("GET", link, user=None, headers={"Accept": "application/json"})
    assert r.status == 200 and r.json()["children"][0]["name"] == "a.jpg"


async def test_expiry(drive: Drive) -> None:
    await drive.call("PUT", "/drive/f.txt", data=b"x")
    past = await make_share(drive, "f.txt", "R", expires=1)
    assert (await drive.call("GET", past, user=None)).status == 404
    live = await make_share(drive, "f.txt", "R", expires="2999-01-01T00:00:00Z")
    assert (await drive.call("GET", live, user=None)).status == 200
    uid = live.split("/")[2]
    r = await drive.call("PATCH", f"/drive/_share/{uid}", json_body={"expires": 1000})
    assert r.status == 200 and r.json()["expired"] is True
    assert (await drive.call("GET", live, user=None)).status == 404
    await drive.call("PATCH", f"/drive/_share/{uid}", json_body={"expires": None})
    assert (await drive.call("GET", live, user=None)).status == 200


async def test_escape_attempts(drive: Drive) -> None:
    await drive.call("PUT", "/drive/private/secret.txt", data=b"secret")
    await drive.call("PUT", "/drive/public/ok.txt", data=b"ok")
    link = await make_share(drive, "public", "RCUD")
    for tail in ("/../private/secret.txt", "/%2e%2e/private/secret.txt",
                 "/%2E%2E%2fprivate%2fsecret.txt", "/..%2fprivate/secret.txt",
                 "/ok.txt%00", "/%00", "/a%5c..%5cb", "/" + "x" * 256, "/_index.json",
                 "/%c0%ae%c0%ae/private", "//private"):
        for method in ("GET", "PUT", "DELETE"):
            r = await drive.call(method, link + tail, user=None, data=b"x")
            assert r.status in (400, 404), (method, tail, r.status)
    uid = link.split("/")[2]
    for bad_name in ("..", "%2e%2e", "a%2fb", "bad%00"):
        r = await drive.call("GET", f"/drive/{uid}/{bad_name}/ok.txt", user=None)
        assert r.status == 400, (bad_name, r.status)
    assert (await drive.call("GET", "/drive/private/secret.txt")).body == b"secret"
    assert drive.totals("alice", "private")["total_files"] == 1


async def test_unknown_revoked_and_expired_links_are_all_404(drive: Drive) -> None:
    """One answer for every dead link, whatever the verb (no 401 challenge that would tell a
    revoked link from an expired one)."""
    await drive.call("PUT", "/drive/f.txt", data=b"x")
    revoked = await make_share(drive, "f.txt", "RCUD")
    uid = revoked.split("/")[2]
    assert (await drive.call("DELETE", f"/drive/_share/{uid}")).status == 204
    expired = await make_share(drive, "f.txt", "RCUD", expires=1)
    unknown = "/drive/" + "A" * 32 + "/x"
    for link in (revoked, expired, unknown):
        for method in ("GET", "HEAD", "PUT", "DELETE", "PROPFIND", "MKCOL", "POST"):
            r = await drive.call(method, link, user=None, data=b"x")
            assert r.status == 404, (link, method, r.status)


async def test_uid_shaped_owner_folder_stays_reachable(drive: Drive) -> None:
    """With credentials, a 32-character name that is no live share is the owner's path."""
    name = "B" * 32
    assert (await drive.call("PUT", f"/drive/{name}/x.txt", data=b"mine")).status == 201
    assert (await drive.call("GET", f"/drive/{name}/x.txt")).body == b"mine"
    assert (await drive.call("GET", f"/drive/{name}/x.txt", user=None)).status == 404
