"""GET and HEAD: root and directory listings (JSON), file content, If-None-Match -> 304,
If-Match -> 412, Range -> 206/416, HEAD metadata without a body."""

from __future__ import annotations

from tests.drive.conftest import Drive


async def test_root_listing_of_an_empty_drive(drive: Drive) -> None:
    r = await drive.call("GET", "/drive/")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["type"] == "dir" and body["path"] == "" and body["children"] == []
    assert body["total_files"] == body["total_dirs"] == body["total_bytes"] == 0
    assert (await drive.call("GET", "/drive")).status == 200


async def test_directory_listing_and_file_content(drive: Drive) -> None:
    await drive.call("PUT", "/drive/photos/2026/trip.jpg", data=b"\xff\xd8jpeg")
    await drive.call("PUT", "/drive/photos/thumb.jpg", data=b"thumb")
    r = await drive.call("GET", "/drive/photos")
    body = r.json()
    assert r.status == 200 and body["name"] == "photos"
    assert (body["self_files"], body["self_dirs"], body["self_bytes"]) == (1, 1, 5)
    assert (body["total_files"], body["total_dirs"], body["total_bytes"]) == (2, 1, 11)
    assert [(c["name"], c["type"]) for c in body["children"]] == [("2026", "dir"),
                                                                 ("thumb.jpg", "file")]
    thumb = body["children"][1]
    assert thumb["size"] == 5 and thumb["content_type"] == "image/jpeg"
    assert thumb["path"] == "photos/thumb.jpg" and len(thumb["etag"]) == 34
    r = await drive.call("GET", "/drive/photos/thumb.jpg")
    assert r.status == 200 and r.body == b"thumb"
    assert r.headers["ETag"] == thumb["etag"] and r.headers["Content-Type"] == "image/jpeg"
    assert r.headers["Accept-Ranges"] == "bytes" and "Last-Modified" in r.headers


async def test_if_none_match_and_if_match(drive: Drive) -> None:
    etag = (await drive.call("PUT", "/drive/a.txt", data=b"hello")).headers["ETag"]
    r = await drive.call("GET", "/drive/a.txt", headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b"" and r.headers["ETag"] == etag
    r = await drive.call("GET", "/drive/a.txt", headers={"If-None-Match": '"other", ' + etag})
    assert r.status == 304
    r = await drive.call("GET", "/drive/a.txt", headers={"If-None-Match": '"other"'})
    assert r.status == 200 and r.body == b"hello"
    assert (await drive.call("GET", "/drive/a.txt",
                             headers={"If-Match": '"other"'})).status == 412


async def test_ranges(drive: Drive) -> None:
    await drive.call("PUT", "/drive/r.bin", data=bytes(range(100)))
    r = await drive.call("GET", "/drive/r.bin", headers={"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == bytes(range(10, 20))
    assert r.headers["Content-Range"] == "bytes 10-19/100"
    r = await drive.call("GET", "/drive/r.bin", headers={"Range": "bytes=95-"})
    assert r.status == 206 and r.body == bytes(range(95, 100))
    r = await drive.call("GET", "/drive/r.bin", headers={"Range": "bytes=-3"})
    assert r.status == 206 and r.body == bytes([97, 98, 99])
    r = await drive.call("GET", "/drive/r.bin", headers={"Range": "bytes=200-300"})
    assert r.status == 416 and r.headers["Content-Range"] == "bytes */100"
    r = await drive.call("GET", "/drive/r.bin", headers={"Range": "bytes=0-1,5-6"})
    assert r.status == 200 and len(r.body) == 100
    r = await drive.call("GET", "/drive/r.bin", headers={"Range": "bytes=0-1",
                                                         "If-Range": '"stale"'})
    assert r.status == 200 and len(r.body) == 100


async def test_head(drive: Drive) -> None:
    put = await drive.call("PUT", "/drive/h.txt", data=b"12345")
    r = await drive.call("HEAD", "/drive/h.txt")
    assert r.status == 200 and r.body == b""
    assert r.headers["Content-Length"] == "5" and r.headers["ETag"] == put.headers["ETag"]
    r = await drive.call("HEAD", "/drive/")
    assert r.status == 200 and r.body == b""
    assert (await drive.call("HEAD", "/drive/missing")).status == 404


async def test_missing_is_404_json(drive: Drive) -> None:
    r = await drive.call("GET", "/drive/nope/nothing.txt")
    assert r.status == 404 and r.error
