"""PROPFIND depths and modes, PROPPATCH, MKCALENDAR, malformed and hostile XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.caldav.conftest import event, response_hrefs

D, C = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}"
CS, ICAL = "{http://calendarserver.org/ns/}", "{http://apple.com/ns/ical/}"

NAMED = """<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"
  xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:X="urn:x">
  <D:prop><D:getetag/><CS:getctag/><D:sync-token/><D:resourcetype/><X:unknown/>
  <C:supported-calendar-component-set/><D:getcontenttype/></D:prop></D:propfind>"""


async def test_depths(dav) -> None:
    await dav.put(dav.cal() + "a.ics", event("a"))
    r0 = await dav.propfind(dav.cal(), depth="0")
    assert response_hrefs(r0) == [dav.cal()]
    r1 = await dav.propfind(dav.cal(), depth="1")
    assert response_hrefs(r1) == [dav.cal(), dav.cal() + "a.ics"]
    rh = await dav.propfind(dav.home, depth="1")
    assert set(response_hrefs(rh)) == {dav.home, dav.cal(), dav.cal("Schedule-Inbox")}
    ri = await dav.propfind(dav.home, depth="infinity")
    assert dav.cal() + "a.ics" in response_hrefs(ri)
    bad = await dav.propfind(dav.cal(), depth="2")
    assert bad.status == 400


async def test_named_props_and_404_propstat(dav) -> None:
    await dav.put(dav.cal() + "a.ics", event("a"))
    r = await dav.propfind(dav.cal(), NAMED, depth="1")
    assert r.status == 207
    root = ET.fromstring(r.body)
    coll, obj = root.findall(f"{D}response")
    stats = {ps.findtext(f"{D}status"): ps for ps in coll.findall(f"{D}propstat")}
    ok = stats["HTTP/1.1 200 OK"]
    assert ok.find(f".//{CS}getctag").text == "1"
    assert ok.find(f".//{D}sync-token").text.startswith("urn:rmail:sync:")
    assert ok.find(f".//{D}resourcetype/{C}calendar") is not None
    names = {c.get("name") for c in ok.iter(f"{C}comp")}
    assert {"VEVENT", "VTODO"} <= names
    missing = stats["HTTP/1.1 404 Not Found"]
    assert missing.find(".//{urn:x}unknown") is not None
    ostats = {ps.findtext(f"{D}status"): ps for ps in obj.findall(f"{D}propstat")}
    assert ostats["HTTP/1.1 200 OK"].findtext(f".//{D}getetag").startswith('"')
    assert "text/calendar" in ostats["HTTP/1.1 200 OK"].findtext(f".//{D}getcontenttype")


async def test_allprop_and_propname(dav) -> None:
    r = await dav.propfind(dav.cal(), '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>')
    assert r.status == 207 and "getctag" in r.text and "displayname" in r.text
    r = await dav.propfind(dav.cal(), '<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>')
    root = ET.fromstring(r.body)
    assert root.find(f".//{CS}getctag") is not None
    assert (root.find(f".//{CS}getctag").text or "") == ""
    r = await dav.propfind(dav.cal())  # empty body = allprop
    assert r.status == 207 and "displayname" in r.text


async def test_malformed_and_hostile_xml(dav) -> None:
    for body in ("<D:propfind xmlns:D='DAV:'><D:prop>", "not xml at all", "<a></b>",
                 '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
                 '<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
                 "<x>" * 100 + "</x>" * 100):
        r = await dav.propfind(dav.cal(), body)
        assert r.status == 400, body[:40]
        assert b"root:" not in r.body
    r = await dav.propfind(dav.cal(), "<D:other xmlns:D='DAV:'/>")
    assert r.status == 400


async def test_proppatch(dav) -> None:
    body = """<D:propertyupdate xmlns:D="DAV:" xmlns:I="http://apple.com/ns/ical/"
      xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:X="urn:x">
      <D:set><D:prop><D:displayname>Work</D:displayname><I:calendar-color>#00ff00ff</I:calendar-color>
      <C:calendar-description>Desk</C:calendar-description><X:note>dead</X:note></D:prop></D:set>
    </D:propertyupdate>"""
    before = ET.fromstring((await dav.propfind(dav.cal(), NAMED)).body).find(f".//{CS}getctag")
    r = await dav.request("PROPPATCH", dav.cal(), body)
    assert r.status == 207 and r.text.count("200 OK") == 1 and "424" not in r.text
    r = await dav.propfind(dav.cal(), """<D:propfind xmlns:D="DAV:" xmlns:X="urn:x"
        xmlns:I="http://apple.com/ns/ical/" xmlns:CS="http://calendarserver.org/ns/"
        xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:displayname/><I:calendar-color/>
        <C:calendar-description/><X:note/><CS:getctag/></D:prop></D:propfind>""")
    root = ET.fromstring(r.body)
    assert root.findtext(f".//{D}displayname") == "Work"
    assert root.findtext(f".//{ICAL}calendar-color") == "#00ff00ff"
    assert root.findtext(f".//{C}calendar-description") == "Desk"
    assert root.findtext(".//{urn:x}note") == "dead"
    assert int(root.findtext(f".//{CS}getctag")) > int(before.text)
    # a protected property fails the whole update: 403 for it, 424 for the others
    r = await dav.request("PROPPATCH", dav.cal(), """<D:propertyupdate xmlns:D="DAV:">
        <D:set><D:prop><D:displayname>Nope</D:displayname><D:getetag>x</D:getetag></D:prop>
        </D:set></D:propertyupdate>""")
    assert "403 Forbidden" in r.text and "424 Failed Dependency" in r.text
    r = await dav.propfind(dav.cal(), NAMED.replace("<D:getetag/>", "<D:displayname/>"))
    assert "Work" in r.text
    r = await dav.request("PROPPATCH", dav.cal(), """<D:propertyupdate xmlns:D="DAV:"
        xmlns:X="urn:x"><D:remove><D:prop><X:note/></D:prop></D:remove></D:propertyupdate>""")
    assert r.status == 207


async def test_mkcalendar(dav) -> None:
    body = """<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"
      xmlns:I="http://apple.com/ns/ical/"><D:set><D:prop><D:displayname>Holidays</D:displayname>
      <I:calendar-color>#ff0000ff</I:calendar-color>
      <C:calendar-description>Days off</C:calendar-description>
      <C:supported-calendar-component-set><C:comp name="VEVENT"/>
      </C:supported-calendar-component-set>
      </D:prop></D:set></C:mkcalendar>"""
    r = await dav.request("MKCALENDAR", dav.cal("holidays"), body)
    assert r.status == 201
    r = await dav.propfind(dav.cal("holidays"), """<D:propfind xmlns:D="DAV:"
      xmlns:I="http://apple.com/ns/ical/" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>
      <D:displayname/><I:calendar-color/><C:calendar-description/>
      <C:supported-calendar-component-set/></D:prop></D:propfind>""")
    assert "Holidays" in r.text and "#ff0000ff" in r.text and "Days off" in r.text
    assert "VTODO" not in r.text
    assert (await dav.request("MKCALENDAR", dav.cal("holidays"))).status == 405
    assert (await dav.request("MKCALENDAR", dav.cal() + "x.ics")).status == 403
    r = await dav.put(dav.cal("holidays") + "t.ics", event("t").replace("VEVENT", "VTODO"))
    assert r.status == 400 and b"supported" in r.body
