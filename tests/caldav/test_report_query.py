"""calendar-query: time ranges over recurring events (DST, EXDATE, RDATE, overrides, all-day,
floating), range edges, expand, and property/text/param filters."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.caldav.conftest import event, response_hrefs

BERLIN = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:weekly
DTSTAMP:20240101T000000Z
DTSTART;TZID=Europe/Berlin:20240318T090000
DTEND;TZID=Europe/Berlin:20240318T100000
RRULE:FREQ=WEEKLY;BYDAY=MO
EXDATE;TZID=Europe/Berlin:20240408T090000
RDATE;TZID=Europe/Berlin:20240410T140000
SUMMARY:Standup
LOCATION:Room 1
END:VEVENT
BEGIN:VEVENT
UID:weekly
DTSTAMP:20240101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20240415T090000
DTSTART;TZID=Europe/Berlin:20240416T110000
DTEND;TZID=Europe/Berlin:20240416T120000
SUMMARY:Standup (moved)
END:VEVENT
END:VCALENDAR
""".replace("\n", "\r\n")

ALLDAY = event("allday", start="", end="").replace(
    "DTSTART:\r\n", "DTSTART;VALUE=DATE:20240401\r\nDTEND;VALUE=DATE:20240402\r\n")
FLOATING = event("floating", start="20240402T230000", end="20240402T233000")


def query(start: str, end: str, comp: str = "VEVENT", inner: str = "",
          props: str = "<D:getetag/>") -> str:
    tr = f'<C:time-range start="{start}" end="{end}"/>' if start or end else ""
    return f"""<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
      <D:prop>{props}</D:prop><C:filter><C:comp-filter name="VCALENDAR">
      <C:comp-filter name="{comp}">{tr}{inner}</C:comp-filter></C:comp-filter></C:filter>
      </C:calendar-query>"""


@pytest.fixture
async def cal(dav):
    for name, body in (("weekly.ics", BERLIN), ("allday.ics", ALLDAY),
                       ("floating.ics", FLOATING), ("single.ics", event("single"))):
        r = await dav.put(dav.cal() + name, body)
        assert r.status == 201, (name, r.text)
    return dav


async def names(dav, body: str) -> set[str]:
    r = await dav.report(dav.cal(), body)
    assert r.status == 207, r.text
    return {h.rsplit("/", 1)[1] for h in response_hrefs(r)}


@pytest.mark.parametrize("start,end,expected", [
    # before DST (CET, UTC+1): 09:00 local = 08:00Z
    ("20240318T080000Z", "20240318T083000Z", {"weekly.ics"}),
    # after DST (CEST, UTC+2): 09:00 local = 07:00Z, nothing at 08:00Z-09:00Z
    ("20240401T070000Z", "20240401T073000Z", {"weekly.ics"}),
    ("20240401T080000Z", "20240401T090000Z", set()),
    # edges: the range ends exactly when the instance starts / starts when it ends
    ("20240401T060000Z", "20240401T070000Z", set()),
    ("20240401T080000Z", "20240401T080001Z", set()),
    ("20240401T075959Z", "20240401T080000Z", {"weekly.ics"}),
    # EXDATE removes 04-08, RDATE adds 04-10 14:00 local (12:00Z)
    ("20240408T000000Z", "20240409T000000Z", set()),
    ("20240410T120000Z", "20240410T121500Z", {"weekly.ics"}),
    # the override moved 04-15 to 04-16 11:00 local (09:00Z)
    ("20240415T000000Z", "20240416T000000Z", set()),
    ("20240416T090000Z", "20240416T093000Z", {"weekly.ics"}),
    # endless series: far in the future, still 09:00 local (winter: 08:00Z)
    ("20301202T080000Z", "20301202T081000Z", {"weekly.ics"}),
    ("20301202T070000Z", "20301202T075959Z", set()),
    # before the series starts
    ("20240101T000000Z", "20240301T000000Z", set()),
])
async def test_recurring_across_dst(cal, start: str, end: str, expected: set[str]) -> None:
    got = await names(cal, query(start, end)) - {"allday.ics", "floating.ics", "single.ics"}
    assert got == expected


async def test_all_day_and_floating(cal) -> None:
    assert "allday.ics" in await names(cal, query("20240401T120000Z", "20240401T130000Z"))
    assert "allday.ics" not in await names(cal, query("20240402T120000Z", "20240403T000000Z"))
    assert "floating.ics" in await names(cal, query("20240402T230000Z", "20240402T231000Z"))
    assert "floating.ics" not in await names(cal, query("20240403T000000Z", "20240404T000000Z"))


async def test_single_event_edges(cal) -> None:
    assert "single.ics" in await names(cal, query("20240105T103000Z", ""))
    assert "single.ics" in await names(cal, query("", "20240105T100001Z"))
    assert "single.ics" not in await names(cal, query("20240105T110000Z", "20240106T000000Z"))
    assert "single.ics" not in await names(cal, query("20240105T090000Z", "20240105T100000Z"))


async def test_expand(cal) -> None:
    body = query("20240401T000000Z", "20240420T000000Z",
                 props='<C:calendar-data><C:expand start="20240401T000000Z" '
                       'end="20240420T000000Z"/></C:calendar-data>')
    r = await cal.report(cal.cal(), body)
    root = ET.fromstring(r.body)
    for resp in root.findall("{DAV:}response"):
        if resp.findtext("{DAV:}href").endswith("weekly.ics"):
            data = resp.findtext(".//{urn:ietf:params:xml:ns:caldav}calendar-data")
    assert "RRULE" not in data and "VTIMEZONE" not in data
    starts = sorted(line for line in data.splitlines() if line.startswith("DTSTART"))
    assert starts == ["DTSTART:20240401T070000Z", "DTSTART:20240410T120000Z",
                      "DTSTART:20240416T090000Z"]
    assert "RECURRENCE-ID:20240415T070000Z" in data
    assert "Standup (moved)" in data


async def test_component_prop_text_and_param_filters(cal) -> None:
    inner = '<C:prop-filter name="SUMMARY"><C:text-match>standup</C:text-match></C:prop-filter>'
    assert await names(cal, query("", "", inner=inner)) == {"weekly.ics"}
    inner = ('<C:prop-filter name="SUMMARY"><C:text-match negate-condition="yes">standup'
             '</C:text-match></C:prop-filter>')
    assert "weekly.ics" not in await names(cal, query("", "", inner=inner))
    inner = ('<C:prop-filter name="SUMMARY"><C:text-match collation="i;octet">standup'
             '</C:text-match></C:prop-filter>')
    assert await names(cal, query("", "", inner=inner)) == set()
    inner = '<C:prop-filter name="LOCATION"><C:is-not-defined/></C:prop-filter>'
    assert "single.ics" in await names(cal, query("", "", inner=inner))
    inner = '<C:prop-filter name="LOCATION"><C:text-match>room</C:text-match></C:prop-filter>'
    assert await names(cal, query("", "", inner=inner)) == {"weekly.ics"}
    inner = '<C:prop-filter name="RRULE"><C:is-not-defined/></C:prop-filter>'
    assert "single.ics" in await names(cal, query("", "", inner=inner))
    inner = ('<C:prop-filter name="DTSTART"><C:param-filter name="TZID"><C:text-match>'
             'Europe/Berlin</C:text-match></C:param-filter></C:prop-filter>')
    assert await names(cal, query("", "", inner=inner)) == {"weekly.ics"}
    # the moved instance is matched by its own summary, in its own time slot
    inner = '<C:prop-filter name="SUMMARY"><C:text-match>moved</C:text-match></C:prop-filter>'
    assert await names(cal, query("20240416T090000Z", "20240416T100000Z", inner=inner)) \
        == {"weekly.ics"}
    assert await names(cal, query("20240401T000000Z", "20240402T000000Z", inner=inner)) \
        == set()


async def test_vtodo_and_unsupported_collation(cal) -> None:
    todo = event("todo1").replace("VEVENT", "VTODO").replace("DTEND:20240105T110000Z",
                                                             "DUE:20240105T110000Z")
    assert (await cal.put(cal.cal() + "todo1.ics", todo)).status == 201
    assert await names(cal, query("", "", comp="VTODO")) == {"todo1.ics"}
    assert await names(cal, query("20240105T000000Z", "20240106T000000Z", comp="VTODO")) \
        == {"todo1.ics"}
    inner = ('<C:prop-filter name="SUMMARY"><C:text-match collation="i;bogus">x'
             '</C:text-match></C:prop-filter>')
    r = await cal.report(cal.cal(), query("", "", inner=inner))
    assert r.status == 403 and b"supported-collation" in r.body


async def test_invalid_filters(cal) -> None:
    r = await cal.report(cal.cal(), query("garbage", "20240101T000000Z"))
    assert r.status == 400
    r = await cal.report(cal.cal(), """<C:calendar-query xmlns:D="DAV:"
        xmlns:C="urn:ietf:params:xml:ns:caldav"><C:filter><C:comp-filter name="VEVENT"/>
        </C:filter></C:calendar-query>""")
    assert r.status == 400 and b"valid-filter" in r.body
    r = await cal.report(cal.cal(), "<unknown-report/>")
    assert r.status == 403 and b"supported-report" in r.body
