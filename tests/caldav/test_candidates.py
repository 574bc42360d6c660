"""CalendarHome.candidates: the sorted-window time-range pre-filter keeps exactly what the
per-entry test (`may_overlap`) keeps, and follows every change of the index."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from rmail.store.calendars import CalendarStore, may_overlap
from tests.caldav.conftest import event


def test_window_matches_the_linear_filter(tmp_path: Path) -> None:
    home = CalendarStore(tmp_path).home("example.com", "alice")
    home.ensure_defaults()
    rng = random.Random(7)
    for i in range(150):
        day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=rng.randrange(9000))
        start = day.strftime("%Y%m%dT%H%M%SZ")
        kind = i % 5
        if kind == 0:
            body = event(f"e{i}", start=start, end="", extra="RRULE:FREQ=WEEKLY")
        elif kind == 1:
            body = event(f"e{i}", start=start[:8], end="").replace(
                f"DTSTART:{start[:8]}", f"DTSTART;VALUE=DATE:{start[:8]}")
        elif kind == 2:
            body = event(f"e{i}", start=start.rstrip("Z"), end="")
        else:
            end = (day + dt.timedelta(hours=rng.randrange(1, 200))).strftime("%Y%m%dT%H%M%SZ")
            body = event(f"e{i}", start=start, end=end)
        home.put_object("default", f"e{i}.ics", body.encode())
    index = home.get("default").index()
    for _ in range(60):
        lo = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=rng.randrange(9500))
        hi = lo + dt.timedelta(hours=rng.randrange(1, 2000))
        for a, b in ((lo, hi), (None, hi), (lo, None), (None, None)):
            lo_s = int(a.timestamp()) if a else None
            hi_s = int(b.timestamp()) + 1 if b else None
            expected = {n for n, e in index.objects.items() if may_overlap(e, lo_s, hi_s)}
            assert {n for n, _ in home.candidates("default", a, b)} == expected
    # a change is seen at once
    lo = dt.datetime(2040, 1, 1, tzinfo=dt.UTC)
    before = {n for n, _ in home.candidates("default", lo, lo + dt.timedelta(days=1))}
    home.put_object("default", "late.ics", event("late", start="20400101T100000Z",
                                                 end="20400101T110000Z").encode())
    after = {n for n, _ in home.candidates("default", lo, lo + dt.timedelta(days=1))}
    assert after - before == {"late.ics"}
    home.get("default").delete("late.ics")
    assert {n for n, _ in home.candidates("default", lo, lo + dt.timedelta(days=1))} == before
