"""sync-collection (RFC 6578): initial sync, add/modify/delete/move, invalid and foreign tokens,
Depth: 1 accepted."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.caldav.conftest import event


def sync_body(token: str = "", props: str = "<D:getetag/>") -> str:
    return f"""<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
      <D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>
      <D:prop>{props}</D:prop></D:sync-collection>"""


async def sync(dav, token: str = "", cal: str = "default", depth: str = "0"
               ) -> tuple[str, dict[str, str]]:
    """(new token, {resource name: "200" or "404"})."""
    r = await dav.report(dav.cal(cal), sync_body(token), depth=depth)
    assert r.status == 207, r.text
    root = ET.fromstring(r.body)
    out = {}
    for resp in root.findall("{DAV:}response"):
        name = resp.findtext("{DAV:}href").rsplit("/", 1)[1]
        status = resp.findtext("{DAV:}status") or resp.findtext(".//{DAV:}status")
        out[name] = "404" if status and "404" in status and \
            resp.find("{DAV:}propstat") is None else "200"
    return root.findtext("{DAV:}sync-token"), out


async def test_sync_lifecycle(dav) -> None:
    token, items = await sync(dav)
    assert items == {}
    await dav.put(dav.cal() + "a.ics", event("a"))
    await dav.put(dav.cal() + "b.ics", event("b"))
    t1, items = await sync(dav, token)
    assert items == {"a.ics": "200", "b.ics": "200"} and t1 != token
    t2, items = await sync(dav, t1)
    assert items == {} and t2 == t1
    await dav.put(dav.cal() + "a.ics", event("a", summary="changed"))
    await dav.request("DELETE", dav.cal() + "b.ics")
    _, items = await sync(dav, t2, depth="1")  # Thunderbird sends Depth: 1
    assert items == {"a.ics": "200", "b.ics": "404"}
    # initial sync again: only what exists
    _, items = await sync(dav)
    assert items == {"a.ics": "200"}


async def test_sync_move(dav) -> None:
    await dav.request("MKCALENDAR", dav.cal("other"))
    await dav.put(dav.cal() + "m.ics", event("m"))
    t_src, _ = await sync(dav)
    t_dst, _ = await sync(dav, cal="other")
    r = await dav.request("MOVE", dav.cal() + "m.ics",
                          headers={"Destination": dav.cal("other") + "m.ics"})
    assert r.status == 201
    _, items = await sync(dav, t_src)
    assert items == {"m.ics": "404"}
    _, items = await sync(dav, t_dst, cal="other")
    assert items == {"m.ics": "200"}


async def test_sync_with_calendar_data(dav) -> None:
    await dav.put(dav.cal() + "a.ics", event("a"))
    r = await dav.report(dav.cal(), sync_body("", "<D:getetag/><C:calendar-data/>"))
    assert "BEGIN:VCALENDAR" in r.text and "UID:a" in r.text


async def test_invalid_tokens(dav) -> None:
    token, _ = await sync(dav)
    other, _ = await sync(dav, cal="Schedule-Inbox")
    for bad in ("http://example.com/sync/1", other, token + "0", "urn:rmail:sync:x:1"):
        r = await dav.report(dav.cal(), sync_body(bad))
        assert r.status == 403, bad
        assert b"valid-sync-token" in r.body
    # a token of a deleted and re-created calendar is refused too
    await dav.request("MKCALENDAR", dav.cal("tmp"))
    old, _ = await sync(dav, cal="tmp")
    await dav.request("DELETE", dav.cal("tmp"))
    await dav.request("MKCALENDAR", dav.cal("tmp"))
    r = await dav.report(dav.cal("tmp"), sync_body(old))
    assert r.status == 403 and b"valid-sync-token" in r.body


async def test_sync_token_property_rotates(dav) -> None:
    body = '<D:propfind xmlns:D="DAV:"><D:prop><D:sync-token/></D:prop></D:propfind>'
    before = ET.fromstring((await dav.propfind(dav.cal(), body)).body).findtext(
        ".//{DAV:}sync-token")
    await dav.put(dav.cal() + "a.ics", event("a"))
    after = ET.fromstring((await dav.propfind(dav.cal(), body)).body).findtext(
        ".//{DAV:}sync-token")
    assert before != after


async def test_sync_limit_pages_through_changes(dav) -> None:
    token, _ = await sync(dav)
    for i in range(5):
        await dav.put(dav.cal() + f"l{i}.ics", event(f"l{i}"))
    await dav.request("DELETE", dav.cal() + "l1.ics")
    seen: dict[str, str] = {}
    for _ in range(10):
        body = sync_body(token).replace("</D:sync-collection>",
                                        "<D:limit><D:nresults>2</D:nresults></D:limit>"
                                        "</D:sync-collection>")
        r = await dav.report(dav.cal(), body)
        assert r.status == 207
        root = ET.fromstring(r.body)
        token = root.findtext("{DAV:}sync-token")
        names = [resp.findtext("{DAV:}href") for resp in root.findall("{DAV:}response")]
        more = any(href == dav.cal() for href in names)
        for resp in root.findall("{DAV:}response"):
            href = resp.findtext("{DAV:}href")
            if href != dav.cal():
                seen[href.rsplit("/", 1)[1]] = "404" if resp.find("{DAV:}propstat") is None \
                    else "200"
        assert len(names) <= 3
        if not more:
            break
    assert seen == {"l0.ics": "200", "l1.ics": "404", "l2.ics": "200", "l3.ics": "200",
                    "l4.ics": "200"}
