"""PUT: create (201) or overwrite (200), parents created for curl-style clients (409 for WebDAV
clients), If-Match / If-None-Match: *, a directory in the way, streaming of a large body."""

from __future__ import annotations

import hashlib
import os

from tests.drive.conftest import Drive


async def test_create_and_overwrite(drive: Drive) -> None:
    r = await drive.call("PUT", "/drive/docs/readme.txt", data=b"v1")
    assert r.status == 201 and r.headers["Location"] == "/drive/docs/readme.txt"
    body = r.json()
    assert body["path"] == "docs/readme.txt" and body["size"] == 2
    assert body["etag"] == '"' + hashlib.sha256(b"v1").hexdigest()[:32] + '"'
    r = await drive.call("PUT", "/drive/docs/readme.txt", data=b"version 2")
    assert r.status == 200 and r.json()["size"] == 9
    assert (await drive.call("GET", "/drive/docs/readme.txt")).body == b"version 2"
    assert drive.totals() == {"self_files": 0, "self_dirs": 1, "self_bytes": 0,
                              "total_files": 1, "total_dirs": 1, "total_bytes": 9}


async def test_parents_auto_created_for_curl_not_for_webdav(drive: Drive) -> None:
    r = await drive.call("PUT", "/drive/a/b/c/d.txt", data=b"x")
    assert r.status == 201 and drive.totals()["total_dirs"] == 3
    r = await drive.call("PUT", "/drive/x/y.txt", data=b"x",
                         headers={"User-Agent": "cadaver/0.24 neon/0.33.0"})
    assert r.status == 409


async def test_if_match_and_if_none_match(drive: Drive) -> None:
    etag = (await drive.call("PUT", "/drive/f", data=b"1")).headers["ETag"]
    assert (await drive.call("PUT", "/drive/f", data=b"2",
                             headers={"If-None-Match": "*"})).status == 412
    assert (await drive.call("PUT", "/drive/f", data=b"2",
                             headers={"If-Match": '"0000"'})).status == 412
    r = await drive.call("PUT", "/drive/f", data=b"2", headers={"If-Match": etag})
    assert r.status == 200
    assert (await drive.call("PUT", "/drive/new", data=b"2",
                             headers={"If-Match": "*"})).status == 412
    assert (await drive.call("PUT", "/drive/new", data=b"2",
                             headers={"If-None-Match": "*"})).status == 201
    assert (await drive.call("GET", "/drive/f")).body == b"2"


async def test_directory_in_the_way(drive: Drive) -> None:
    await drive.call("POST", "/drive/dir?action=mkdir")
    assert (await drive.call("PUT", "/drive/dir", data=b"x")).status == 409
    await drive.call("PUT", "/drive/file", data=b"x")
    assert (await drive.call("PUT", "/drive/file/below", data=b"x")).status == 409


async def test_large_body_streams_to_disk(drive: Drive) -> None:
    size = 24 * 1024 * 1024 + 7
    chunk = os.urandom(1024 * 1024)
    sha = hashlib.sha256()

    async def body():  # type: ignore[no-untyped-def]
        left = size
        while left:
            part = chunk[: min(left, len(chunk))]
            sha.update(part)
            left -= len(part)
            yield part

    r = await drive.call("PUT", "/drive/big.bin", data=body())
    assert r.status == 201 and r.json()["size"] == size
    assert r.headers["ETag"] == '"' + sha.hexdigest()[:32] + '"'
    got = hashlib.sha256()
    n = 0
    async with drive.session.get(drive.base + "/drive/big.bin",
                                 headers={"Authorization": (await _auth())}) as resp:
        async for part in resp.content.iter_chunked(1 << 20):
            got.update(part)
            n += len(part)
    assert n == size and got.hexdigest() == sha.hexdigest()


async def _auth() -> str:
    from tests.drive.conftest import basic

    return basic("alice")
