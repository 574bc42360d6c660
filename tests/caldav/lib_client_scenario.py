"""Run by test_client_caldav.py in a subprocess (so `import caldav` is the PyPI client
library, not this test package): drives a server with the caldav library, prints JSON."""

from __future__ import annotations

import datetime as dt
import json
import sys

import caldav


def event(uid: str, start: str, end: str, summary: str, extra: str = "") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20240101T000000Z", f"DTSTART:{start}", f"DTEND:{end}",
             f"SUMMARY:{summary}", *([extra] if extra else []), "END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def main(url: str, user: str, password: str, other_url: str) -> dict[str, object]:
    out: dict[str, object] = {}
    utc = dt.UTC
    with caldav.DAVClient(url=url, username=user, password=password, timeout=60) as client:
        principal = client.principal()
        out["names"] = sorted(str(c.get_display_name()) for c in principal.calendars())
        cal = principal.make_calendar(name="Work", cal_id="work")
        cal.save_event(event("lib-1", "20300105T100000Z", "20300105T110000Z", "Lib meeting"))
        cal.save_event(event("lib-2", "20300110T100000Z", "20300110T110000Z", "Weekly",
                             "RRULE:FREQ=WEEKLY;COUNT=4"))
        found = cal.search(start=dt.datetime(2030, 1, 1, tzinfo=utc),
                           end=dt.datetime(2030, 1, 8, tzinfo=utc), event=True)
        out["found"] = sorted(str(e.icalendar_component["UID"]) for e in found)
        expanded = cal.search(start=dt.datetime(2030, 1, 9, tzinfo=utc),
                              end=dt.datetime(2030, 2, 1, tzinfo=utc), event=True,
                              expand=True)
        out["expanded"] = len(expanded)
        ev = cal.event_by_uid("lib-1")
        ev.icalendar_component["SUMMARY"] = "Renamed"
        ev.save()
        out["renamed"] = str(cal.event_by_uid("lib-1").icalendar_component["SUMMARY"])
        objects = cal.objects_by_sync_token(load_objects=False)
        token = objects.sync_token
        cal.event_by_uid("lib-2").delete()
        changed = cal.objects_by_sync_token(sync_token=token, load_objects=False)
        out["sync"] = len(list(changed))
        out["after_delete"] = sorted(str(e.icalendar_component["UID"]) for e in cal.events())
        cal.delete()
        out["final"] = sorted(str(c.get_display_name()) for c in principal.calendars())
        try:
            client.calendar(url=other_url).events()
            out["other_user"] = "readable"
        except Exception as exc:
            out["other_user"] = type(exc).__name__
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
