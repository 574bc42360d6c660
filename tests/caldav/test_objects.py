"""PUT / GET / HEAD / DELETE / MOVE of calendar objects: ETags, preconditions, validation."""

from __future__ import annotations

import hashlib

from tests.caldav.conftest import event


async def test_put_get_roundtrip(dav) -> None:
    body = event("rt-1")
    r = await dav.put(dav.cal() + "rt-1.ics", body)
    assert r.status == 201
    etag = r.headers["ETag"]
    assert etag == '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    r = await dav.request("GET", dav.cal() + "rt-1.ics")
    assert r.status == 200 and r.body == body.encode() and r.headers["ETag"] == etag
    assert r.headers["Content-Type"].startswith("text/calendar")
    r = await dav.request("HEAD", dav.cal() + "rt-1.ics")
    assert r.status == 200 and r.body == b"" and r.headers["ETag"] == etag
    r = await dav.request("GET", dav.cal() + "rt-1.ics", headers={"If-None-Match": etag})
    assert r.status == 304
    r = await dav.put(dav.cal() + "rt-1.ics", event("rt-1", summary="moved"))
    assert r.status == 204 and r.headers["ETag"] != etag


async def test_preconditions_412(dav) -> None:
    path = dav.cal() + "p.ics"
    r = await dav.put(path, event("p"), If_None_Match="*")
    assert r.status == 201
    etag = r.headers["ETag"]
    r = await dav.put(path, event("p"), If_None_Match="*")
    assert r.status == 412
    r = await dav.put(path, event("p", summary="x"), If_Match='"deadbeef"')
    assert r.status == 412
    r = await dav.put(path, event("p", summary="x"), If_Match=etag)
    assert r.status == 204
    r = await dav.request("DELETE", path, headers={"If-Match": etag})
    assert r.status == 412
    r = await dav.put(dav.cal() + "new.ics", event("new"), If_Match=etag)
    assert r.status == 412
    r = await dav.request("DELETE", path)
    assert r.status == 204
    assert (await dav.request("GET", path)).status == 404
    assert (await dav.request("DELETE", path)).status == 404


async def test_invalid_icalendar_400_with_reason(dav) -> None:
    for body, reason in ((b"not a calendar", b"VCALENDAR"),
                         (event("x").replace("UID:x\r\n", ""), b"UID"),
                         (event("x").replace("END:VCALENDAR", ""), b""),
                         (event("x").replace("DTSTART:20240105T100000Z",
                                             "DTSTART:2024-01-05"), b""),
                         (event("x") + event("y"), b"")):
        data = body if isinstance(body, bytes) else body.encode()
        r = await dav.request("PUT", dav.cal() + "x.ics", data,
                              {"Content-Type": "text/calendar"})
        assert r.status == 400, (data[:60], r.status)
        assert b"valid-calendar-data" in r.body and reason in r.body


async def test_two_uids_and_method_refused(dav) -> None:
    two = event("a").replace("END:VCALENDAR", "BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20240101T000000Z"
                             "\r\nDTSTART:20240101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR")
    r = await dav.put(dav.cal() + "two.ics", two)
    assert r.status == 400 and b"UID" in r.body
    r = await dav.put(dav.cal() + "m.ics", event("m").replace("PRODID", "METHOD:REQUEST\r\nPRODID"))
    assert r.status == 400 and b"METHOD" in r.body


async def test_wrong_media_type_415(dav) -> None:
    r = await dav.request("PUT", dav.cal() + "x.ics", event("x"),
                          {"Content-Type": "application/json"})
    assert r.status == 415 and b"text/calendar" in r.body


async def test_uid_conflict_403(dav) -> None:
    assert (await dav.put(dav.cal() + "one.ics", event("same"))).status == 201
    r = await dav.put(dav.cal() + "two.ics", event("same"))
    assert r.status == 403 and b"no-uid-conflict" in r.body
    assert b"/caldav/alice/calendars/default/one.ics" in r.body
    r = await dav.put(dav.cal() + "one.ics", event("different"))
    assert r.status == 409


async def test_oversize_body_413(dav) -> None:
    big = event("big", extra="DESCRIPTION:" + "x" * (11 * 1024 * 1024))
    r = await dav.put(dav.cal() + "big.ics", big)
    assert r.status == 413
    r = await dav.request("REPORT", dav.cal(), b"<a>" + b"x" * (5 * 1024 * 1024) + b"</a>",
                          {"Content-Type": "application/xml"})
    assert r.status == 413


async def test_path_traversal_refused(dav, tmp_config) -> None:
    for path in ("/caldav/alice/calendars/%2e%2e/x.ics",
                 "/caldav/alice/calendars/default/%2e%2e",
                 "/caldav/alice/calendars/default/..%2f..%2faccount.json",
                 "/caldav/alice/calendars/default/a%2fb.ics",
                 "/caldav/alice/calendars/default/.hidden.ics",
                 "/caldav/alice/calendars/default/%00.ics",
                 "/caldav/alice/calendars/..%2f..%2f/x.ics",
                 "/caldav/alice/calendars/default/index.lock"):
        r = await dav.put(path, event("t"))
        assert r.status in (400, 403, 404, 405), (path, r.status)
        r = await dav.request("MKCALENDAR", path.rsplit("/", 1)[0] + "/")
        assert r.status in (400, 403, 404, 405), (path, r.status)
    account = tmp_config.mail_root / "domains/example.com/users/alice/account.json"
    assert account.is_file()
    assert not list(tmp_config.mail_root.rglob("x.ics"))


async def test_put_into_missing_calendar_409(dav) -> None:
    r = await dav.put(dav.cal("nope") + "x.ics", event("x"))
    assert r.status == 409


async def test_move_between_calendars(dav) -> None:
    assert (await dav.request("MKCALENDAR", dav.cal("work"))).status == 201
    assert (await dav.put(dav.cal() + "mv.ics", event("mv"))).status == 201
    r = await dav.request("MOVE", dav.cal() + "mv.ics",
                          headers={"Destination": "http://localhost" + dav.cal("work") + "mv.ics"})
    assert r.status == 201
    assert (await dav.request("GET", dav.cal() + "mv.ics")).status == 404
    assert (await dav.request("GET", dav.cal("work") + "mv.ics")).body == event("mv").encode()
    assert (await dav.put(dav.cal() + "mv.ics", event("mv"))).status == 201
    r = await dav.request("MOVE", dav.cal() + "mv.ics",
                          headers={"Destination": dav.cal("work") + "mv.ics", "Overwrite": "F"})
    assert r.status == 412
    r = await dav.request("MOVE", dav.cal() + "mv.ics",
                          headers={"Destination": "/caldav/bob/calendars/default/mv.ics"})
    assert r.status == 403


async def test_delete_calendar(dav) -> None:
    assert (await dav.request("MKCALENDAR", dav.cal("tmp"))).status == 201
    assert (await dav.put(dav.cal("tmp") + "a.ics", event("a"))).status == 201
    assert (await dav.request("DELETE", dav.cal("tmp"))).status == 204
    assert (await dav.propfind(dav.cal("tmp"))).status == 404
    assert (await dav.request("DELETE", dav.cal("tmp"))).status == 404


async def test_get_calendar_exports_everything(dav) -> None:
    await dav.put(dav.cal() + "a.ics", event("a"))
    await dav.put(dav.cal() + "b.ics", event("b"))
    r = await dav.request("GET", dav.cal())
    assert r.status == 200 and r.text.count("BEGIN:VEVENT") == 2
