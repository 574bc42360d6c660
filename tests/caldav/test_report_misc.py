"""calendar-multiget and free-busy-query."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.caldav.conftest import event, response_hrefs
from tests.caldav.test_report_query import BERLIN


async def test_multiget(dav) -> None:
    await dav.put(dav.cal() + "a.ics", event("a"))
    await dav.put(dav.cal() + "b.ics", event("b"))
    body = f"""<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
      <D:prop><D:getetag/><C:calendar-data/></D:prop>
      <D:href>{dav.cal()}a.ics</D:href><D:href>{dav.cal()}b.ics</D:href>
      <D:href>{dav.cal()}missing.ics</D:href><D:href>/caldav/alice/calendars/x/../..</D:href>
    </C:calendar-multiget>"""
    r = await dav.report(dav.cal(), body)
    assert r.status == 207
    root = ET.fromstring(r.body)
    by_href = {resp.findtext("{DAV:}href"): resp for resp in root.findall("{DAV:}response")}
    assert "UID:a" in by_href[dav.cal() + "a.ics"].findtext(
        ".//{urn:ietf:params:xml:ns:caldav}calendar-data")
    assert "404" in by_href[dav.cal() + "missing.ics"].findtext("{DAV:}status")
    assert len(response_hrefs(r)) == 4


async def test_free_busy(dav) -> None:
    await dav.put(dav.cal() + "weekly.ics", BERLIN)
    await dav.put(dav.cal() + "t.ics", event("t", start="20240402T100000Z",
                                             end="20240402T110000Z",
                                             extra="STATUS:TENTATIVE"))
    await dav.put(dav.cal() + "free.ics", event("f", start="20240402T120000Z",
                                                end="20240402T130000Z",
                                                extra="TRANSP:TRANSPARENT"))
    await dav.put(dav.cal() + "x.ics", event("x", start="20240402T140000Z",
                                             end="20240402T150000Z",
                                             extra="STATUS:CANCELLED"))
    body = """<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">
      <C:time-range start="20240401T000000Z" end="20240411T000000Z"/></C:free-busy-query>"""
    r = await dav.report(dav.cal(), body)
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/calendar")
    text = r.text.replace("\r\n ", "").replace("\n ", "")  # unfold
    lines = [line.replace(";VALUE=PERIOD", "") for line in text.splitlines()
             if line.startswith("FREEBUSY")]
    assert "FREEBUSY;FBTYPE=BUSY:20240401T070000Z/20240401T080000Z" in lines
    assert "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20240402T100000Z/20240402T110000Z" in lines
    # EXDATE'd 04-08, transparent and cancelled events are free
    assert not any("20240408" in line or "20240402T120000Z" in line
                   or "20240402T140000Z" in line for line in lines)
    assert any("20240410T120000Z" in line for line in lines), lines  # the RDATE
    r = await dav.report(dav.cal(), '<C:free-busy-query xmlns:C='
                         '"urn:ietf:params:xml:ns:caldav"/>')
    assert r.status == 400


async def test_partial_calendar_data(dav) -> None:
    await dav.put(dav.cal() + "p.ics", event("p", extra="LOCATION:Room 7\r\nDESCRIPTION:long"))
    body = f"""<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
      <D:prop><C:calendar-data><C:comp name="VCALENDAR"><C:prop name="VERSION"/>
        <C:comp name="VEVENT"><C:prop name="UID"/><C:prop name="SUMMARY"/>
        <C:prop name="DTSTART"/></C:comp></C:comp></C:calendar-data></D:prop>
      <D:href>{dav.cal()}p.ics</D:href></C:calendar-multiget>"""
    r = await dav.report(dav.cal(), body)
    data = ET.fromstring(r.body).findtext(".//{urn:ietf:params:xml:ns:caldav}calendar-data")
    assert "SUMMARY:Meeting" in data and "UID:p" in data and "VERSION:2.0" in data
    assert "LOCATION" not in data and "DESCRIPTION" not in data and "PRODID" not in data
    assert "DTEND" not in data
