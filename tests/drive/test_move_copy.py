"""MOVE with Destination (path or absolute URL) and Overwrite: F; COPY for WebDAV clients."""

from __future__ import annotations

from tests.drive.conftest import Drive


async def test_move_rename_and_relocate(drive: Drive) -> None:
    await drive.call("PUT", "/drive/a.txt", data=b"aaa")
    await drive.call("POST", "/drive/dest?action=mkdir")
    r = await drive.call("MOVE", "/drive/a.txt", headers={"Destination": "/drive/b.txt"})
    assert r.status == 201
    r = await drive.call("MOVE", "/drive/b.txt",
                         headers={"Destination": drive.base + "/drive/dest/c.txt"})
    assert r.status == 201
    assert (await drive.call("GET", "/drive/dest/c.txt")).body == b"aaa"
    assert (await drive.call("GET", "/drive/a.txt")).status == 404
    assert drive.totals("alice", "dest")["self_files"] == 1


async def test_move_overwrite(drive: Drive) -> None:
    await drive.call("PUT", "/drive/x", data=b"x")
    await drive.call("PUT", "/drive/y", data=b"yy")
    r = await drive.call("MOVE", "/drive/x", headers={"Destination": "/drive/y", "Overwrite": "F"})
    assert r.status == 412
    assert (await drive.call("GET", "/drive/y")).body == b"yy"
    r = await drive.call("MOVE", "/drive/x", headers={"Destination": "/drive/y"})
    assert r.status == 204
    assert (await drive.call("GET", "/drive/y")).body == b"x"
    assert drive.totals()["total_bytes"] == 1


async def test_move_directory_keeps_totals(drive: Drive) -> None:
    for i in range(4):
        await drive.call("PUT", f"/drive/src/d{i % 2}/f{i}", data=b"12")
    await drive.call("POST", "/drive/target?action=mkdir")
    r = await drive.call("MOVE", "/drive/src/", headers={"Destination": "/drive/target/src/"})
    assert r.status == 201
    t = drive.totals("alice", "target")
    assert (t["total_files"], t["total_dirs"], t["total_bytes"]) == (4, 3, 8)
    t = drive.totals()
    assert (t["total_files"], t["total_dirs"], t["total_bytes"]) == (4, 4, 8)


async def test_move_errors(drive: Drive) -> None:
    await drive.call("PUT", "/drive/d/f", data=b"1")
    assert (await drive.call("MOVE", "/drive/d/f")).status == 400
    assert (await drive.call("MOVE", "/drive/d/f",
                             headers={"Destination": "/drive/nope/f"})).status == 409
    assert (await drive.call("MOVE", "/drive/d",
                             headers={"Destination": "/drive/d/inside"})).status == 409
    assert (await drive.call("MOVE", "/drive/d/f",
                             headers={"Destination": "/drive/d/f"})).status == 403
    assert (await drive.call("MOVE", "/drive/d/f",
                             headers={"Destination": "http://elsewhere.example/drive/g"})
            ).status == 502
    assert (await drive.call("MOVE", "/drive/d/f",
                             headers={"Destination": "/drive/../escape"})).status == 400
    assert (await drive.call("MOVE", "/drive/d/f",
                             headers={"Destination": "/drive/x", "Overwrite": "maybe"})
            ).status == 400
    assert (await drive.call("MOVE", "/drive/ghost",
                             headers={"Destination": "/drive/x"})).status == 404


async def test_copy(drive: Drive) -> None:
    await drive.call("PUT", "/drive/c/one", data=b"1")
    await drive.call("PUT", "/drive/c/sub/two", data=b"22")
    r = await drive.call("COPY", "/drive/c", headers={"Destination": "/drive/c2"})
    assert r.status == 201
    assert (await drive.call("GET", "/drive/c2/sub/two")).body == b"22"
    r = await drive.call("COPY", "/drive/c", headers={"Destination": "/drive/c3", "Depth": "0"})
    assert r.status == 201 and (await drive.call("GET", "/drive/c3")).json()["children"] == []
    r = await drive.call("COPY", "/drive/c/one", headers={"Destination": "/drive/c2/one",
                                                          "Overwrite": "F"})
    assert r.status == 412
    t = drive.totals()
    assert (t["total_files"], t["total_dirs"], t["total_bytes"]) == (4, 5, 6)
