"""Quota shared by mail and drive: 413 before or during an upload, nothing partial left
visible, totals exact; COPY counts too."""

from __future__ import annotations

import os

from tests.drive.conftest import DOMAIN, Drive


def set_quota_mb(drive: Drive, mb: int) -> None:
    drive.services.accounts.update(DOMAIN, "alice", quota_mb=mb)


async def stream(total: int, chunk: int = 64 * 1024):  # type: ignore[no-untyped-def]
    block = os.urandom(chunk)
    while total > 0:
        yield block[: min(chunk, total)]
        total -= chunk


async def test_quota_exhausted_mid_upload(drive: Drive) -> None:
    set_quota_mb(drive, 1)
    r = await drive.call("PUT", "/drive/fits.bin", data=b"x" * 600_000)
    assert r.status == 201
    # no Content-Length (chunked): refused while the body is arriving
    r = await drive.call("PUT", "/drive/docs/too-big.bin", data=stream(3 * 1024 * 1024))
    assert r.status == 413 and r.error
    assert (await drive.call("GET", "/drive/docs/too-big.bin")).status == 404
    # with a Content-Length: refused before the body is read
    r = await drive.call("PUT", "/drive/too-big.bin", data=b"y" * 600_000)
    assert r.status == 413
    t = drive.totals()
    assert (t["total_files"], t["total_bytes"]) == (1, 600_000)
    store = drive.store()
    assert not os.listdir(store.layout.tmp)
    assert {p.name for p in drive.files_dir().iterdir()} == {"fits.bin", "_index.json",
                                                             "_index.lock"}
    # overwriting reclaims the old size
    assert (await drive.call("PUT", "/drive/fits.bin", data=b"z" * 1_000_000)).status == 200
    assert (await drive.call("COPY", "/drive/fits.bin",
                             headers={"Destination": "/drive/copy.bin"})).status == 413
    assert drive.totals()["total_bytes"] == 1_000_000


async def test_mail_counts_against_the_same_quota(drive: Drive) -> None:
    set_quota_mb(drive, 1)
    mailbox = drive.services.mail.mailbox(DOMAIN, "alice")
    raw = b"From: a@b.example\r\nSubject: big\r\n\r\n" + b"m" * 700_000
    mailbox.folder("INBOX").append(raw)
    r = await drive.call("PUT", "/drive/f.bin", data=b"x" * 400_000)
    assert r.status == 413
    assert (await drive.call("PUT", "/drive/f.bin", data=b"x" * 300_000)).status == 201


async def test_multipart_over_quota(drive: Drive) -> None:
    import aiohttp

    set_quota_mb(drive, 1)
    writer = aiohttp.MultipartWriter("form-data")
    for i, size in enumerate((400_000, 400_000, 400_000)):
        part = writer.append(b"p" * size)
        part.headers["Content-Disposition"] = f'form-data; name="f"; filename="f{i}"'
    r = await drive.call("POST", "/drive/up", data=writer)
    assert r.status == 413
    t = drive.totals()
    # the parts are committed together: the two that fitted are not kept either
    assert (t["total_files"], t["total_bytes"]) == (0, 0)
    assert (await drive.call("GET", "/drive/up/f2")).status == 404
