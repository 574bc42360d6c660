"""A WebDAV LOCK granted while a PUT's body is still arriving must stop that PUT: the store
checks lock tokens under the drive lock at commit, not only the web layer before the body."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from rmail.web.uploads import BATCH
from tests.drive.conftest import Drive
from tests.drive.test_webdav import LOCKINFO


async def _staged(drive: Drive) -> None:
    """Until the server has begun writing the racing upload into tmp/."""
    tmp = drive.config.mail_root / "domains/example.com/users/alice/drive/tmp"
    for _ in range(600):
        if tmp.is_dir() and any(n.startswith("upload.") and (tmp / n).stat().st_size > 0
                                for n in os.listdir(tmp)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the upload never reached the disk")


async def test_lock_granted_mid_upload_stops_the_write(drive: Drive) -> None:
    assert (await drive.call("PUT", "/drive/race.txt", data=b"v1")).status == 201
    locked = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        for _ in range(BATCH // (1024 * 1024) + 2):  # past one receive batch: on disk
            yield b"a" * (1024 * 1024)
        await locked.wait()  # the rest of the body only after the LOCK was granted
        yield b"b" * 65536

    put = asyncio.create_task(drive.call("PUT", "/drive/race.txt", data=body()))
    await _staged(drive)
    lock = await drive.call("LOCK", "/drive/race.txt", data=LOCKINFO)
    assert lock.status == 200
    locked.set()
    reply = await put
    assert reply.status == 423, (reply.status, reply.body)
    got = await drive.call("GET", "/drive/race.txt")
    assert got.body == b"v1"
    tmp = drive.config.mail_root / "domains/example.com/users/alice/drive/tmp"
    assert not [n for n in os.listdir(tmp) if n.startswith("upload.")]


async def test_lock_on_parent_granted_mid_upload_stops_a_create(drive: Drive) -> None:
    assert (await drive.call("MKCOL", "/drive/dir")).status == 201
    locked = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        for _ in range(BATCH // (1024 * 1024) + 2):  # past one receive batch: on disk
            yield b"a" * (1024 * 1024)
        await locked.wait()
        yield b"b"

    put = asyncio.create_task(drive.call("PUT", "/drive/dir/new.txt", data=body()))
    await _staged(drive)
    lock = await drive.call("LOCK", "/drive/dir/", data=LOCKINFO, headers={"Depth": "0"})
    assert lock.status == 200
    locked.set()
    assert (await put).status == 423
    assert (await drive.call("GET", "/drive/dir/new.txt")).status == 404
