"""WebDAV beyond the manual (litmus runs the full conformance suites): dead properties,
lock tokens honoured by PUT, DELETE and MOVE, COPY, and memory that stays flat while a large
body streams through."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import psutil
import pytest

from rmail.store.drive import DrivePath
from tests.drive.conftest import Drive, basic

D = "{DAV:}"
LOCKINFO = (b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
            b'</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>tester</D:owner>'
            b'</D:lockinfo>')


async def test_proppatch_dead_properties(drive: Drive) -> None:
    await drive.call("PUT", "/drive/p.txt", data=b"p")
    body = (b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">'
            b'<D:set><D:prop><Z:color xml:lang="en">red <Z:b>bold</Z:b></Z:color></D:prop>'
            b'</D:set></D:propertyupdate>')
    r = await drive.call("PROPPATCH", "/drive/p.txt", data=body)
    assert r.status == 207 and b"200 OK" in r.body
    r = await drive.call("PROPFIND", "/drive/p.txt", headers={"Depth": "0"}, data=(
        b'<D:propfind xmlns:D="DAV:"><D:prop><Z:color xmlns:Z="urn:z"/></D:prop></D:propfind>'))
    color = ET.fromstring(r.body).find(".//{urn:z}color")
    assert color is not None and color.text == "red " and color.find("{urn:z}b").text == "bold"
    # moving keeps dead properties; protected live properties cannot be set
    await drive.call("MOVE", "/drive/p.txt", headers={"Destination": "/drive/q.txt"})
    assert "{urn:z}color" in drive.store().stat(DrivePath.parse("q.txt")).props
    bad = (b'<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getetag>x</D:getetag>'
           b'<Z:ok xmlns:Z="urn:z">1</Z:ok></D:prop></D:set></D:propertyupdate>')
    r = await drive.call("PROPPATCH", "/drive/q.txt", data=bad)
    assert r.status == 207 and b"403 Forbidden" in r.body and b"424 Failed Dependency" in r.body


async def test_lock_tokens_are_honoured(drive: Drive) -> None:
    await drive.call("PUT", "/drive/locked.txt", data=b"v1")
    await drive.call("PUT", "/drive/dir/inner.txt", data=b"in")
    r = await drive.call("LOCK", "/drive/locked.txt", data=LOCKINFO,
                         headers={"Timeout": "Second-600"})
    assert r.status == 200
    token = r.headers["Lock-Token"]
    assert token.startswith("<opaquelocktoken:")
    disc = ET.fromstring(r.body).find(f".//{D}activelock")
    assert disc is not None and disc.find(f"{D}owner").text == "tester"
    assert (await drive.call("LOCK", "/drive/locked.txt", data=LOCKINFO)).status == 423
    assert (await drive.call("PUT", "/drive/locked.txt", data=b"v2")).status == 423
    assert (await drive.call("DELETE", "/drive/locked.txt")).status == 423
    assert (await drive.call("MOVE", "/drive/locked.txt",
                             headers={"Destination": "/drive/x.txt"})).status == 423
    r = await drive.call("PUT", "/drive/locked.txt", data=b"v2", headers={"If": f"({token})"})
    assert r.status == 200
    r = await drive.call("PUT", "/drive/locked.txt", data=b"v3",
                         headers={"If": "(<opaquelocktoken:bogus>)"})
    assert r.status == 412
    # a depth-infinity lock on a collection covers its members and new members
    r = await drive.call("LOCK", "/drive/dir/", data=LOCKINFO)
    dir_token = r.headers["Lock-Token"]
    assert (await drive.call("PUT", "/drive/dir/new.txt", data=b"n")).status == 423
    assert (await drive.call("DELETE", "/drive/dir/inner.txt")).status == 423
    assert (await drive.call("PUT", "/drive/dir/new.txt", data=b"n",
                             headers={"If": f"({dir_token})"})).status == 201
    assert (await drive.call("UNLOCK", "/drive/dir/",
                             headers={"Lock-Token": dir_token})).status == 204
    assert (await drive.call("DELETE", "/drive/dir")).status == 204
    assert (await drive.call("UNLOCK", "/drive/locked.txt",
                             headers={"Lock-Token": token})).status == 204
    assert (await drive.call("DELETE", "/drive/locked.txt")).status == 204


async def test_lock_unmapped_url_creates_empty_file(drive: Drive) -> None:
    r = await drive.call("LOCK", "/drive/fresh.txt", data=LOCKINFO)
    assert r.status == 201
    g = await drive.call("GET", "/drive/fresh.txt")
    assert g.status == 200 and g.body == b""
    assert (await drive.call("LOCK", "/drive/no/parent.txt", data=LOCKINFO)).status == 409


@pytest.mark.slow
async def test_large_upload_and_download_keep_memory_flat(drive: Drive) -> None:
    size = 256 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    proc = psutil.Process()
    peak = [proc.memory_info().rss]
    start = peak[0]

    async def body():  # type: ignore[no-untyped-def]
        for i in range(size // len(block)):
            if i % 16 == 0:
                peak.append(proc.memory_info().rss)
            yield block

    r = await drive.call("PUT", "/drive/huge.bin", data=body())
    assert r.status == 201 and r.json()["size"] == size
    n = 0
    async with drive.session.get(drive.base + "/drive/huge.bin",
                                 headers={"Authorization": basic("alice")}) as resp:
        async for chunk in resp.content.iter_chunked(1 << 20):
            n += len(chunk)
            if n % (32 << 20) < (1 << 20):
                peak.append(proc.memory_info().rss)
    assert n == size
    # client and server share this process: both must stream (256 MiB would show)
    assert max(peak) - start < 64 * 1024 * 1024, (max(peak) - start) // 1024 // 1024
