"""PROPFIND from a curl-style client: JSON metadata (+ children for a directory). A WebDAV
request (XML body, or Accept: xml) gets RFC 4918 multistatus instead."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.drive.conftest import Drive

D = "{DAV:}"


async def test_propfind_json(drive: Drive) -> None:
    await drive.call("PUT", "/drive/docs/a.txt", data=b"hello")
    r = await drive.call("PROPFIND", "/drive/docs")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["type"] == "dir" and body["total_bytes"] == 5
    assert [c["name"] for c in body["children"]] == ["a.txt"]
    r = await drive.call("PROPFIND", "/drive/docs/a.txt")
    body = r.json()
    assert body["type"] == "file" and body["size"] == 5 and "children" not in body
    assert (await drive.call("PROPFIND", "/drive/none")).status == 404


async def test_propfind_xml_for_webdav_requests(drive: Drive) -> None:
    await drive.call("PUT", "/drive/docs/a.txt", data=b"hello")
    body = (b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/>'
            b'<D:resourcetype/><D:getetag/><X:nope xmlns:X="urn:x"/></D:prop></D:propfind>')
    r = await drive.call("PROPFIND", "/drive/docs/", data=body, headers={"Depth": "1"})
    assert r.status == 207
    ms = ET.fromstring(r.body)
    hrefs = [e.text for e in ms.iter(f"{D}href")]
    assert hrefs == ["/drive/docs/", "/drive/docs/a.txt"]
    resp = ms.findall(f"{D}response")[1]
    assert resp.find(f".//{D}getcontentlength").text == "5"
    assert resp.find(f".//{D}resourcetype").find(f"{D}collection") is None
    statuses = [s.text for s in resp.iter(f"{D}status")]
    assert statuses == ["HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"]
    r = await drive.call("PROPFIND", "/drive/", headers={"Depth": "0",
                                                         "Accept": "application/xml"})
    assert r.status == 207 and ET.fromstring(r.body).find(f".//{D}collection") is not None
    r = await drive.call("PROPFIND", "/drive/", data=b"<not xml", headers={"Depth": "0"})
    assert r.status == 400
    r = await drive.call("PROPFIND", "/drive/", data=b'<!DOCTYPE x [<!ENTITY a "b">]><x/>')
    assert r.status == 400
