"""Run as a script (its own process, so no test package can shadow the `caldav` library):
``python caldav_client.py URL USER PASSWORD put UID SUMMARY START`` stores a one-hour event in
the default calendar; ``... get UID`` prints the summary of the event with that UID (JSON)."""

from __future__ import annotations

import datetime as dt
import json
import sys


def main() -> None:
    import caldav  # the PyPI client library

    url, user, password, verb, uid = sys.argv[1:6]
    client = caldav.DAVClient(url, username=user, password=password, ssl_verify_cert=False)
    calendar = next(c for c in client.principal().calendars()
                    if str(c.url).rstrip("/").endswith("/default"))
    if verb == "put":
        summary, start = sys.argv[6], dt.datetime.fromisoformat(sys.argv[7])
        calendar.save_event(dtstart=start, dtend=start + dt.timedelta(hours=1),
                            summary=summary, uid=uid)
        print(json.dumps({"stored": uid}))
    else:
        event = calendar.event_by_uid(uid)
        comp = event.icalendar_instance.walk("VEVENT")[0]
        print(json.dumps({"summary": str(comp["SUMMARY"]),
                          "start": comp["DTSTART"].dt.isoformat()}))


if __name__ == "__main__":
    main()
