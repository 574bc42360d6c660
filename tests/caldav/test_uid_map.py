"""The UID → resource map in a collection index (rmail.store.davstore) and CalDAV's
`no-uid-conflict` precondition (RFC 4791 §5.3.2.1) on PUT, MOVE and COPY."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from rmail.store import davstore
from rmail.store.calendars import CalendarStore
from rmail.store.davstore import UidConflict
from rmail.store.errors import Conflict, PreconditionFailed
from tests.caldav.conftest import event

CAL = "domains/example.com/users/alice/calendars/default"


@pytest.fixture
def home(tmp_path: Path):
    h = CalendarStore(tmp_path).home("example.com", "alice")
    h.ensure_defaults()
    return h


def fresh_index(home):
    """The index as another process sees it: nothing cached."""
    davstore._CACHE.items.clear()
    return home.get("default").index()


def test_map_follows_every_change_and_replays_from_the_journal(home) -> None:
    home.put_object("default", "client-name-1.ics", event("uid-1").encode())
    home.put_object("default", "b.ics", event("uid-2").encode())
    coll = home.get("default")
    coll.delete("b.ics")
    home.put_object("default", "b.ics", event("uid-3").encode())
    home.create_calendar("work")
    coll.move("client-name-1.ics", home.get("work"), "moved.ics")
    index = fresh_index(home)
    assert index.uids == {"uid-3": "b.ics"}
    assert home.get("work").index().uid_owner("uid-1") == "moved.ics"
    assert home.find_uid("uid-1") == ("work", "moved.ics")
    assert home.find_uid("uid-2") is None


def test_map_is_written_by_compaction_and_rebuilt_from_a_version_1_index(
        home, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(davstore, "COMPACT_MIN_LINES", 4)
    for i in range(10):
        home.put_object("default", f"r{i}.ics", event(f"u{i}").encode())
    snapshot = json.loads((tmp_path / CAL / "index.json").read_text())
    assert snapshot["version"] == davstore.INDEX_VERSION == 2
    assert snapshot["uids"]["u3"] == "r3.ics"
    # a version-1 snapshot (written before the map existed): rebuilt when read
    snapshot.pop("uids")
    snapshot["version"] = 1
    (tmp_path / CAL / "index.json").write_text(json.dumps(snapshot))
    index = fresh_index(home)
    assert index.uid_owner("u3") == "r3.ics"
    with pytest.raises(UidConflict):
        home.put_object("default", "other.ics", event("u3").encode())
    # a map that lost track of an object is rebuilt too
    snapshot["version"] = 2
    snapshot["uids"] = {"u1": "r1.ics"}
    (tmp_path / CAL / "index.json").write_text(json.dumps(snapshot))
    assert fresh_index(home).uid_owner("u7") == "r7.ics"


def test_newer_index_version_fails_loudly(home, tmp_path: Path) -> None:
    home.put_object("default", "a.ics", event("a").encode())
    doc = json.loads((tmp_path / CAL / "index.json").read_text())
    doc["version"] = 99
    (tmp_path / CAL / "index.json").write_text(json.dumps(doc))
    with pytest.raises(davstore.CorruptStore):
        fresh_index(home)


def test_concurrent_writers_of_one_uid_one_wins(home) -> None:
    """Eight threads PUT the same UID under different names: exactly one resource holds it."""
    outcomes: list[str] = []

    def put(i: int) -> None:
        try:
            home.put_object("default", f"w{i}.ics", event("shared").encode())
            outcomes.append("ok")
        except UidConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1 and outcomes.count("conflict") == 7
    index = fresh_index(home)
    assert len(index.objects) == 1 and list(index.uids) == ["shared"]


def test_copy_in_the_store(home) -> None:
    home.create_calendar("work")
    home.put_object("default", "a.ics", event("a").encode())
    src, dst = home.get("default"), home.get("work")
    with pytest.raises(UidConflict) as info:
        src.copy_to("a.ics", src, "b.ics")
    assert info.value.existing == "a.ics"
    with pytest.raises(Conflict):
        src.copy_to("a.ics", src, "a.ics")
    etag, created = src.copy_to("a.ics", dst, "c.ics")
    assert created and dst.read("c.ics") == src.read("a.ics")
    assert dst.index().uid_owner("a") == "c.ics" and src.index().uid_owner("a") == "a.ics"
    with pytest.raises(PreconditionFailed):
        src.copy_to("a.ics", dst, "c.ics", overwrite=False)
    with pytest.raises(UidConflict):  # the work calendar holds UID a as c.ics already
        src.copy_to("a.ics", dst, "d.ics")
    assert src.copy_to("a.ics", dst, "c.ics") == (etag, False)


def test_put_many_is_all_or_nothing(home, tmp_path: Path) -> None:
    from rmail.ical.meta import object_meta
    from rmail.ical.parse import parse_object

    def item(name: str, uid: str, summary: str = "x") -> tuple[str, bytes, dict]:
        data = event(uid, summary=summary).encode()
        return name, data, object_meta(parse_object(data))

    coll = home.get("default")
    home.put_object("default", "kept-name.ics", event("old").encode())
    token = coll.changes_since(None).token
    # a UID twice in one batch: nothing written
    with pytest.raises(UidConflict):
        coll.put_many([item("n1.ics", "u1"), item("n2.ics", "u1")])
    # a new name already taken by another UID: nothing written
    with pytest.raises(UidConflict):
        coll.put_many([item("n1.ics", "u1"), item("kept-name.ics", "u2")])
    assert coll.changes_since(token).changed == []
    assert not (tmp_path / CAL / "events" / "n1.ics").exists()
    # an existing UID replaces its resource, whatever name the batch proposes
    out = coll.put_many([item("n1.ics", "u1"), item("whatever.ics", "old", "new")])
    assert [(n, c) for n, _, c in out] == [("n1.ics", True), ("kept-name.ics", False)]
    assert b"SUMMARY:new" in coll.read("kept-name.ics")
    index = fresh_index(home)
    assert index.uids == {"old": "kept-name.ics", "u1": "n1.ics"}
    # the batch is one journal line: a torn copy of it is ignored as a whole
    journal = tmp_path / CAL / "index.journal"
    line = journal.read_bytes().splitlines()[-1]
    assert b'"b":' in line
    before = journal.read_bytes()
    batch = coll.put_many([item("t1.ics", "t1"), item("t2.ics", "t2")])
    assert len(batch) == 2
    whole = journal.read_bytes()
    journal.write_bytes(whole[: len(before) + (len(whole) - len(before)) // 2])
    index = fresh_index(home)
    assert "t1.ics" not in index.objects and "t2.ics" not in index.objects
    assert "n1.ics" in index.objects
