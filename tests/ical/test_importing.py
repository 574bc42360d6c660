"""rmail.ical.importing: whole-file import validation (the line at fault, all or nothing) on
the shared fixture corpus and on broken files; export as one calendar."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmail.ical.importing import ImportRefused, export_calendar, prepare_import
from rmail.ical.parse import parse_calendar


def _fixtures() -> Path:
    beside = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
    team = Path("/work/shared/fixtures")
    return beside if beside.is_dir() or not team.is_dir() else team


ICAL = sorted((_fixtures() / "ical").glob("*.ics"))
needs_ical = pytest.mark.skipif(not ICAL, reason=f"fixture folder {_fixtures() / 'ical'} "
                                                 "absent")
REFUSED = {"date-vs-datetime_matrix_broken-end.ics": (11, "END:VTOOD")}


@needs_ical
@pytest.mark.parametrize("path", ICAL, ids=[p.name for p in ICAL])
def test_every_fixture_imports_or_is_refused_with_its_line(path: Path) -> None:
    data = path.read_bytes()
    if path.name in REFUSED:
        line, words = REFUSED[path.name]
        with pytest.raises(ImportRefused) as info:
            prepare_import(data)
        assert info.value.line == line and words in str(info.value)
        return
    items = prepare_import(data)
    assert items and len({i.uid for i in items}) == len(items)
    for item in items:
        assert item.obj.method is None and item.data.startswith(b"BEGIN:VCALENDAR")
    # every exported object comes back in one file with the same UIDs
    again = prepare_import(export_calendar([i.data for i in items], "Fixture"))
    assert sorted(i.uid for i in again) == sorted(i.uid for i in items)


BROKEN = [
    (b"", None, "empty"),
    (b"hello world\r\n", 1, "no ':'"),
    (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260101T000000Z"
     b"\r\nEND:VEVENT\r\n", 1, "never closed"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:2026-01-01\r\nEND:VEVENT\r\n"
     b"END:VCALENDAR\r\n", 4, "DTSTART"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260101T000000Z\r\n"
     b"RRULE:FREQ=SOMETIMES\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", 5, "RRULE"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260101T000000Z\r\nEND:VEVENT\r\n"
     b"END:VCALENDAR\r\n", 2, "without UID"),
    (b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", 3,
     "second VCALENDAR"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VTODO\r\nEND:VCALENDAR\r\n", 4,
     "does not close"),
    (b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", None, "no VEVENT"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260101T000000Z\r\nEND:VEVENT"
     b"\r\nBEGIN:VTODO\r\nUID:a\r\nEND:VTODO\r\nEND:VCALENDAR\r\n", 6, "two kinds"),
    (b"BEGIN:VCALENDAR\r\n\xff\xfe\r\nEND:VCALENDAR\r\n", 2, "UTF-8"),
    (b" bad continuation\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", 1, "continuation"),
]


@pytest.mark.parametrize(("data", "line", "words"), BROKEN)
def test_broken_files_are_refused_naming_the_line(data: bytes, line: int | None,
                                                  words: str) -> None:
    with pytest.raises(ImportRefused) as info:
        prepare_import(data)
    assert info.value.line == line, str(info.value)
    assert words in str(info.value)


def test_folded_lines_report_their_first_physical_line() -> None:
    data = (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:a long\r\n  folded title"
            b"\r\nDTSTART:20260101T00\r\n 0000Z-oops\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    with pytest.raises(ImportRefused) as info:
        prepare_import(data)
    assert info.value.line == 6


def test_components_the_calendar_does_not_hold_are_refused() -> None:
    data = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t\r\n"
            b"END:VTODO\r\nEND:VCALENDAR\r\n")
    with pytest.raises(ImportRefused) as info:
        prepare_import(data, allowed=["VEVENT"])
    assert info.value.line == 4 and "VTODO" in str(info.value)


def test_method_dropped_and_bare_component_wrapped() -> None:
    published = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:PUBLISH\r\n"
                 b"BEGIN:VEVENT\r\nUID:p\r\nDTSTART:20260101T000000Z\r\nEND:VEVENT\r\n"
                 b"END:VCALENDAR\r\n")
    (item,) = prepare_import(published)
    assert b"METHOD" not in item.data
    (bare,) = prepare_import(b"BEGIN:VEVENT\r\nUID:b\r\nDTSTART:20260101T000000\r\n"
                             b"END:VEVENT\r\n")
    assert bare.uid == "b"


def test_export_names_the_calendar_and_shares_timezones() -> None:
    a = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTIMEZONE\r\nTZID:X\r\n"
         b"BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0100\r\n"
         b"TZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:a\r\n"
         b"DTSTART;TZID=X:20260101T090000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    b = a.replace(b"UID:a", b"UID:b")
    cal = parse_calendar(export_calendar([a, b], "Work", "#ff0000"))
    assert str(cal["X-WR-CALNAME"]) == "Work"
    assert [c.name for c in cal.subcomponents] == ["VTIMEZONE", "VEVENT", "VEVENT"]
