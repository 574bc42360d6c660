"""COPY and MOVE over HTTP: `no-uid-conflict` (RFC 4791 §5.3.2.1) names the resource in the
destination calendar that holds the UID; Overwrite, If-Match, bad destinations."""

from __future__ import annotations

from tests.caldav.conftest import event


async def test_copy_between_calendars_and_uid_conflicts(dav) -> None:
    assert (await dav.request("MKCALENDAR", dav.cal("work"))).status == 201
    assert (await dav.put(dav.cal() + "a.ics", event("cp"))).status == 201
    # into the same calendar under another name: the UID would appear twice
    r = await dav.request("COPY", dav.cal() + "a.ics",
                          headers={"Destination": dav.cal() + "b.ics"})
    assert r.status == 403 and b"no-uid-conflict" in r.body
    assert dav.cal().encode() + b"a.ics" in r.body
    assert (await dav.request("GET", dav.cal() + "b.ics")).status == 404
    # into another calendar: a new resource, the original stays
    r = await dav.request("COPY", dav.cal() + "a.ics",
                          headers={"Destination": "http://localhost" + dav.cal("work") + "c.ics"})
    assert r.status == 201 and r.headers["ETag"]
    assert (await dav.request("GET", dav.cal("work") + "c.ics")).body == event("cp").encode()
    assert (await dav.request("GET", dav.cal() + "a.ics")).status == 200
    # again under a third name: work holds the UID as c.ics, and the error says so
    r = await dav.request("COPY", dav.cal() + "a.ics",
                          headers={"Destination": dav.cal("work") + "d.ics"})
    assert r.status == 403 and b"no-uid-conflict" in r.body
    assert dav.cal("work").encode() + b"c.ics" in r.body
    # onto itself, Overwrite: F, a stale If-Match
    r = await dav.request("COPY", dav.cal("work") + "c.ics",
                          headers={"Destination": dav.cal("work") + "c.ics"})
    assert r.status == 409
    r = await dav.request("COPY", dav.cal() + "a.ics",
                          headers={"Destination": dav.cal("work") + "c.ics", "Overwrite": "F"})
    assert r.status == 412
    r = await dav.request("COPY", dav.cal() + "a.ics",
                          headers={"Destination": dav.cal("work") + "c.ics",
                                   "If-Match": '"0000"'})
    assert r.status == 412


async def test_move_into_a_calendar_that_holds_the_uid(dav) -> None:
    assert (await dav.request("MKCALENDAR", dav.cal("work"))).status == 201
    assert (await dav.put(dav.cal() + "a.ics", event("mv"))).status == 201
    assert (await dav.put(dav.cal("work") + "held.ics", event("mv"))).status == 201
    r = await dav.request("MOVE", dav.cal() + "a.ics",
                          headers={"Destination": dav.cal("work") + "other.ics"})
    assert r.status == 403 and b"no-uid-conflict" in r.body
    assert dav.cal("work").encode() + b"held.ics" in r.body
    assert (await dav.request("GET", dav.cal() + "a.ics")).status == 200


async def test_copy_bad_requests(dav) -> None:
    assert (await dav.put(dav.cal() + "a.ics", event("bad"))).status == 201
    r = await dav.request("COPY", dav.cal() + "a.ics")
    assert r.status == 400
    r = await dav.request("COPY", dav.cal() + "a.ics",
                          headers={"Destination": "/caldav/bob/calendars/default/a.ics"})
    assert r.status == 403
    r = await dav.request("COPY", dav.cal() + "a.ics",
                          headers={"Destination": dav.cal() + "..%2f..%2fx.ics"})
    assert r.status in (400, 403)
    r = await dav.request("COPY", dav.cal(),
                          headers={"Destination": dav.cal("x")})
    assert r.status == 403
    r = await dav.request("COPY", dav.cal() + "missing.ics",
                          headers={"Destination": dav.cal() + "m2.ics"})
    assert r.status == 404
    r = await dav.request("COPY", dav.cal() + "a.ics", auth=False,
                          headers={"Destination": dav.cal() + "z.ics"})
    assert r.status == 401
