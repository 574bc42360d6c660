"""MKCOL (WebDAV mkdir: 201, 405 when it exists, 409 without a parent, 415 with a body) and
DELETE (a file, a whole tree, never the root)."""

from __future__ import annotations

from tests.drive.conftest import Drive


async def test_mkcol(drive: Drive) -> None:
    r = await drive.call("MKCOL", "/drive/newdir")
    assert r.status == 201 and r.headers["Location"] == "/drive/newdir/"
    assert (await drive.call("MKCOL", "/drive/newdir")).status == 405
    assert (await drive.call("MKCOL", "/drive/missing/child")).status == 409
    assert (await drive.call("MKCOL", "/drive/withbody", data=b"<x/>")).status == 415
    assert drive.totals()["total_dirs"] == 1


async def test_delete_file_and_tree(drive: Drive) -> None:
    await drive.call("PUT", "/drive/keep.txt", data=b"k")
    for i in range(3):
        await drive.call("PUT", f"/drive/tree/sub{i}/f.txt", data=b"x" * 10)
    assert (await drive.call("DELETE", "/drive/keep.txt")).status == 204
    assert (await drive.call("GET", "/drive/keep.txt")).status == 404
    assert (await drive.call("DELETE", "/drive/tree")).status == 204
    assert drive.totals()["total_files"] == drive.totals()["total_dirs"] == 0
    assert (await drive.call("DELETE", "/drive/tree")).status == 404
    assert not (drive.files_dir() / "tree").exists()


async def test_root_cannot_be_deleted(drive: Drive) -> None:
    assert (await drive.call("DELETE", "/drive/")).status == 403
    assert (await drive.call("GET", "/drive/")).status == 200
