"""rmail.ical.describe: recurrence in words."""

from __future__ import annotations

import icalendar
import pytest

from rmail.ical.describe import recurrence_in_words


def master(*props: str) -> icalendar.Event:
    text = "BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20261207T090000Z\r\n" + \
        "".join(p + "\r\n" for p in props) + "END:VEVENT\r\n"
    return icalendar.Event.from_ical(text)


@pytest.mark.parametrize(("props", "words"), [
    (("RRULE:FREQ=DAILY",), "Daily"),
    (("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=10",),
     "Every 2 weeks on Monday and Wednesday, 10 times"),
    (("RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",), "Weekly on weekdays"),
    (("RRULE:FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20270331T000000Z",),
     "Monthly on the last Friday until 31 March 2027 00:00 UTC"),
    (("RRULE:FREQ=MONTHLY;BYDAY=2TU",), "Monthly on the 2nd Tuesday"),
    (("RRULE:FREQ=MONTHLY;BYMONTHDAY=15",), "Monthly on day 15"),
    (("RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=5",), "Yearly on day 5 in March"),
    (("RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",),
     "Monthly on Monday, Tuesday, Wednesday, Thursday and Friday (BYSETPOS=-1)"),
    (("RRULE:FREQ=DAILY;COUNT=1",), "Daily, once"),
    (("RRULE:FREQ=WEEKLY", "EXDATE:20261214T090000Z,20261221T090000Z"),
     "Weekly; except 2 dates"),
    (("RDATE:20261224T090000Z",), "plus 1 extra date"),
    ((), ""),
])
def test_words(props: tuple[str, ...], words: str) -> None:
    assert recurrence_in_words(master(*props)) == words


def test_no_master() -> None:
    assert recurrence_in_words(None) == ""
