"""The GET fast path answers from memory (credentials verified moments ago, a small file's
bytes, a directory index) only while one `stat` proves nothing changed. These tests change
things behind the running server's back, as another process would, and check that the very
next request sees the change."""

from __future__ import annotations

import asyncio

from rmail import auth
from rmail.store.accounts import Accounts
from rmail.store.drive import DrivePath, DriveStore
from tests.drive.conftest import DOMAIN, Drive, basic


async def _warm(drive: Drive, path: str, body: bytes) -> None:
    for _ in range(3):  # the first GET reads from disk, later ones from memory
        r = await drive.call("GET", path)
        assert r.status == 200 and r.body == body


async def test_overwrite_through_the_api_is_served_at_once(drive: Drive) -> None:
    await drive.call("PUT", "/drive/hot.txt", data=b"one")
    await _warm(drive, "/drive/hot.txt", b"one")
    await drive.call("PUT", "/drive/hot.txt", data=b"two")  # same size, new content
    r = await drive.call("GET", "/drive/hot.txt")
    assert r.status == 200 and r.body == b"two"


async def test_write_by_another_process_is_served_at_once(drive: Drive) -> None:
    await drive.call("PUT", "/drive/docs/a.txt", data=b"first version")
    await _warm(drive, "/drive/docs/a.txt", b"first version")
    other = DriveStore(drive.config.mail_root).drive(DOMAIN, "alice")  # its own caches
    await asyncio.to_thread(other.put, DrivePath.parse("docs/a.txt"), b"second version")
    r = await drive.call("GET", "/drive/docs/a.txt")
    assert r.status == 200 and r.body == b"second version"
    await asyncio.to_thread(other.delete, DrivePath.parse("docs/a.txt"))
    assert (await drive.call("GET", "/drive/docs/a.txt")).status == 404


async def test_ranges_and_conditionals_on_a_cached_file(drive: Drive) -> None:
    await drive.call("PUT", "/drive/r.txt", data=b"0123456789")
    await _warm(drive, "/drive/r.txt", b"0123456789")
    r = await drive.call("GET", "/drive/r.txt", headers={"Range": "bytes=2-4"})
    assert r.status == 206 and r.body == b"234"
    assert r.headers["Content-Range"] == "bytes 2-4/10"
    etag = r.headers["ETag"]
    r = await drive.call("GET", "/drive/r.txt", headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b""
    r = await drive.call("GET", "/drive/r.txt", headers={"If-Match": '"nope"'})
    assert r.status == 412
    r = await drive.call("HEAD", "/drive/r.txt")
    assert r.status == 200 and r.body == b"" and r.headers["Content-Length"] == "10"


async def test_password_change_by_another_process_applies_to_the_next_request(
        drive: Drive) -> None:
    await drive.call("PUT", "/drive/x.txt", data=b"x")
    await _warm(drive, "/drive/x.txt", b"x")
    other = Accounts(drive.config.mail_root)  # a CLI process, say
    new_hash = await asyncio.to_thread(auth.hash_password, "a-new-password-1")
    await asyncio.to_thread(other.update, DOMAIN, "alice", password_hash=new_hash)
    assert (await drive.call("GET", "/drive/x.txt")).status == 401
    r = await drive.call("GET", "/drive/x.txt",
                         headers={"Authorization": basic("alice", "a-new-password-1")})
    assert r.status == 200 and r.body == b"x"


async def test_disabling_an_account_applies_to_the_next_request(drive: Drive) -> None:
    await drive.call("PUT", "/drive/x.txt", data=b"x")
    await _warm(drive, "/drive/x.txt", b"x")
    await asyncio.to_thread(Accounts(drive.config.mail_root).update, DOMAIN, "alice",
                            enabled=False)
    assert (await drive.call("GET", "/drive/x.txt")).status == 401


async def test_wrong_password_is_never_answered_from_memory(drive: Drive) -> None:
    await drive.call("PUT", "/drive/x.txt", data=b"x")
    await _warm(drive, "/drive/x.txt", b"x")
    r = await drive.call("GET", "/drive/x.txt",
                         headers={"Authorization": basic("alice", "alice-passwordX")})
    assert r.status == 401
