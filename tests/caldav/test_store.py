"""rmail.store.calendars / contacts / davstore: the collection engine on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmail.ical.parse import InvalidCalendar
from rmail.store.calendars import CalendarStore
from rmail.store.contacts import ContactStore
from rmail.store.davstore import MAX_TOMBSTONES, InvalidSyncToken, UidConflict, etag_of
from rmail.store.errors import AlreadyExists, NotFound, PreconditionFailed, UnsafeName
from tests.caldav.conftest import event


@pytest.fixture
def home(tmp_path: Path):
    h = CalendarStore(tmp_path).home("example.com", "alice")
    h.ensure_defaults()
    return h


def test_layout_is_the_manuals(home, tmp_path: Path) -> None:
    home.put_object("default", "a.ics", event("a").encode())
    cal = tmp_path / "domains/example.com/users/alice/calendars/default"
    assert (cal / "calendar.json").is_file()
    assert (cal / "events" / "a.ics").read_bytes() == event("a").encode()
    snapshot = json.loads((cal / "index.json").read_text())
    assert snapshot["version"] == 2 and {"ctag", "sync_token", "objects", "tombstones",
                                         "uids"} <= set(snapshot)
    # the change since the snapshot is one journal line beside it
    (line,) = (cal / "index.journal").read_text().splitlines()
    assert json.loads(line)["p"] == "a.ics"
    index = home.get("default").index()
    assert index.ctag == 1 and index.sync_token.endswith(":1")
    entry = index.objects["a.ics"]
    assert entry["uid"] == "a" and entry["comp"] == "VEVENT"
    assert entry["start"] == 1704448800 and entry["end"] == 1704452400
    assert (tmp_path / "domains/example.com/users/alice/calendars/Schedule-Inbox").is_dir()


def test_etag_is_sha256_32_hex(home) -> None:
    data = event("a").encode()
    etag, created, _ = home.put_object("default", "a.ics", data)
    assert created and etag == etag_of(data)
    assert len(etag.strip('"')) == 32


def test_preconditions(home) -> None:
    etag, _, _ = home.put_object("default", "a.ics", event("a").encode(), if_none_match="*")
    with pytest.raises(PreconditionFailed):
        home.put_object("default", "a.ics", event("a").encode(), if_none_match="*")
    with pytest.raises(PreconditionFailed):
        home.put_object("default", "a.ics", event("a", summary="x").encode(),
                        if_match='"0000"')
    new, created, _ = home.put_object("default", "a.ics", event("a", summary="x").encode(),
                                      if_match=etag)
    assert not created and new != etag
    with pytest.raises(PreconditionFailed):
        home.get("default").delete("a.ics", if_match=etag)


def test_uid_unique_and_stable(home) -> None:
    home.put_object("default", "a.ics", event("a").encode())
    with pytest.raises(UidConflict) as info:
        home.put_object("default", "b.ics", event("a").encode())
    assert info.value.existing == "a.ics"
    with pytest.raises(Exception, match="UID"):
        home.put_object("default", "a.ics", event("other").encode())


def test_invalid_calendar_rejected(home) -> None:
    with pytest.raises(InvalidCalendar):
        home.put_object("default", "x.ics", b"hello")
    with pytest.raises(InvalidCalendar, match="UID"):
        home.put_object("default", "x.ics", event("a").replace("UID:a\r\n", "").encode())


@pytest.mark.parametrize("name", ["..", ".", "a/b", ".hidden", "x\x00y", "index.lock", ""])
def test_unsafe_names(home, name: str) -> None:
    with pytest.raises(UnsafeName):
        home.put_object("default", name, event("a").encode())
    with pytest.raises(UnsafeName):
        home.create_calendar(name)


def test_sync_positions(home) -> None:
    coll = home.get("default")
    t0 = coll.changes_since(None).token
    home.put_object("default", "a.ics", event("a").encode())
    home.put_object("default", "b.ics", event("b").encode())
    t1 = coll.changes_since(t0)
    assert t1.changed == ["a.ics", "b.ics"] and t1.removed == []
    home.put_object("default", "a.ics", event("a", summary="changed").encode())
    coll.delete("b.ics")
    t2 = coll.changes_since(t1.token)
    assert t2.changed == ["a.ics"] and t2.removed == ["b.ics"]
    assert coll.changes_since(t2.token).changed == []
    home.put_object("default", "b.ics", event("b").encode())  # re-created: no longer removed
    t3 = coll.changes_since(t2.token)
    assert t3.changed == ["b.ics"] and t3.removed == []
    full = coll.changes_since(None)
    assert sorted(full.changed) == ["a.ics", "b.ics"]


def test_foreign_and_future_tokens(home) -> None:
    coll = home.get("default")
    other = home.get("Schedule-Inbox").changes_since(None).token
    with pytest.raises(InvalidSyncToken):
        coll.changes_since(other)
    with pytest.raises(InvalidSyncToken):
        coll.changes_since(coll.changes_since(None).token[:-1] + "99")
    with pytest.raises(InvalidSyncToken):
        coll.changes_since("garbage")


def test_recreated_calendar_invalidates_tokens(home) -> None:
    home.create_calendar("work")
    token = home.get("work").changes_since(None).token
    home.delete("work")
    home.create_calendar("work")
    with pytest.raises(InvalidSyncToken):
        home.get("work").changes_since(token)


def test_tombstones_are_pruned(home, monkeypatch) -> None:
    monkeypatch.setattr("rmail.store.davstore.MAX_TOMBSTONES", 4)
    monkeypatch.setattr("rmail.store.davstore.COMPACT_MIN_LINES", 2)
    coll = home.get("default")
    start = coll.changes_since(None).token
    for i in range(6):
        home.put_object("default", f"{i}.ics", event(str(i)).encode())
        coll.delete(f"{i}.ics")
    assert len(coll.index().tombstones) <= 4
    with pytest.raises(InvalidSyncToken):
        coll.changes_since(start)
    assert MAX_TOMBSTONES >= 1000


def test_move_between_calendars(home) -> None:
    home.create_calendar("work")
    home.put_object("default", "a.ics", event("a").encode())
    src, dst = home.get("default"), home.get("work")
    t_src, t_dst = src.changes_since(None).token, dst.changes_since(None).token
    src.move("a.ics", dst, "a.ics")
    assert src.changes_since(t_src).removed == ["a.ics"]
    assert dst.changes_since(t_dst).changed == ["a.ics"]
    assert dst.read("a.ics") == event("a").encode()
    with pytest.raises(NotFound):
        src.read("a.ics")
    home.put_object("default", "a.ics", event("a").encode())
    with pytest.raises(UidConflict):
        src.move("a.ics", dst, "other.ics")
    with pytest.raises(PreconditionFailed):
        src.move("a.ics", dst, "a.ics", overwrite=False)


def test_calendars_create_delete(home) -> None:
    home.create_calendar("work", displayname="Work", color="#ff0000",
                         description="desk", components=["VEVENT"])
    assert "work" in home.names()
    meta = home.get("work").meta()
    assert meta["displayname"] == "Work" and meta["components"] == ["VEVENT"]
    with pytest.raises(AlreadyExists):
        home.create_calendar("work")
    with pytest.raises(InvalidCalendar, match="supported"):
        home.put_object("work", "t.ics", event("t").replace("VEVENT", "VTODO").encode())
    home.delete("work")
    assert "work" not in home.names()
    with pytest.raises(NotFound):
        home.get("work")


def test_update_meta_bumps_ctag(home) -> None:
    coll = home.get("default")
    before = coll.index().ctag
    coll.update_meta(lambda m: m.update(displayname="Renamed"))
    assert coll.index().ctag == before + 1 and coll.meta()["displayname"] == "Renamed"


def test_index_read_sees_other_writers(tmp_path: Path) -> None:
    """Two store objects (as two processes would) see each other's writes (stat revalidation)."""
    a = CalendarStore(tmp_path).home("example.com", "alice")
    a.ensure_defaults()
    b = CalendarStore(tmp_path).home("example.com", "alice")
    assert b.get("default").index().ctag == 0
    a.put_object("default", "x.ics", event("x").encode())
    assert "x.ics" in b.get("default").index().objects


def test_contacts(tmp_path: Path) -> None:
    home = ContactStore(tmp_path).home("example.com", "alice")
    home.ensure_defaults()
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Carol\r\nEMAIL:carol@x.org\r\nEND:VCARD\r\n"
    _, created, _ = home.put_card("default", "c1.vcf", card)
    assert created
    entry = home.get("default").entry("c1.vcf")
    assert entry["fn"] == "Carol" and entry["emails"] == ["carol@x.org"]
    assert (tmp_path / "domains/example.com/users/alice/contacts/default/cards/c1.vcf").is_file()


def test_journal_compaction_and_torn_tail(tmp_path: Path, monkeypatch) -> None:
    """Many changes fold into the snapshot; a torn last journal line (a crash mid-append) is
    ignored by readers and cut by the next writer; another process's view stays exact."""
    monkeypatch.setattr("rmail.store.davstore.COMPACT_MIN_LINES", 8)
    home = CalendarStore(tmp_path).home("example.com", "alice")
    home.ensure_defaults()
    for i in range(30):
        home.put_object("default", f"{i}.ics", event(str(i)).encode())
    for i in range(0, 30, 3):
        home.get("default").delete(f"{i}.ics")
    cal = tmp_path / "domains/example.com/users/alice/calendars/default"
    assert len((cal / "index.journal").read_text().splitlines()) < 30
    fresh = CalendarStore(tmp_path).home("example.com", "alice")
    from rmail.store import davstore

    davstore._CACHE.items.clear()
    index = fresh.get("default").index()
    assert sorted(index.objects) == sorted(f"{i}.ics" for i in range(30) if i % 3)
    assert index.ctag == 40
    with open(cal / "index.journal", "ab") as f:
        f.write(b'{"c": 41, "p": "torn.ics", "e": {"ui')
    davstore._CACHE.items.clear()
    assert "torn.ics" not in fresh.get("default").index().objects
    home.put_object("default", "after.ics", event("after").encode())
    davstore._CACHE.items.clear()
    index = fresh.get("default").index()
    assert "after.ics" in index.objects and index.ctag == 41
    token = index.sync_token
    home.put_object("default", "later.ics", event("later").encode())
    assert fresh.get("default").changes_since(token).changed == ["later.ics"]


def test_initial_sync_with_limit_lists_no_removals(home) -> None:
    for i in range(4):
        home.put_object("default", f"{i}.ics", event(str(i)).encode())
    home.get("default").delete("0.ics")
    coll = home.get("default")
    first = coll.changes_since(None, limit=2)
    assert first.truncated and first.changed == ["1.ics", "2.ics"] and first.removed == []
    rest = coll.changes_since(first.token, limit=2)
    # 0.ics was removed after the point the first page stands for: reported (harmless 404)
    assert rest.changed == ["3.ics"] and rest.removed == ["0.ics"] and not rest.truncated
