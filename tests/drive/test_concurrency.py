"""Two clients writing one directory at the same time: every write lands, totals stay exact."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.drive.conftest import Drive, basic


async def test_two_clients_one_directory(drive: Drive) -> None:
    n = 40

    async def client(name: str) -> list[int]:
        statuses = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as s:
            hdrs = {"Authorization": basic("alice")}
            for i in range(n):
                body = (name * (i + 1)).encode()
                async with s.put(f"{drive.base}/drive/shared/{name}-{i}.txt", data=body,
                                 headers=hdrs) as r:
                    statuses.append(r.status)
                if i % 5 == 4:  # overwrites and deletes interleave with the other client
                    async with s.put(f"{drive.base}/drive/shared/{name}-{i}.txt", data=b"o",
                                     headers=hdrs) as r:
                        statuses.append(r.status)
                    async with s.delete(f"{drive.base}/drive/shared/{name}-{i - 1}.txt",
                                        headers=hdrs) as r:
                        statuses.append(r.status)
        return statuses

    a, b = await asyncio.gather(client("a"), client("b"))
    assert set(a) | set(b) <= {200, 201, 204}, (a, b)
    listing = (await drive.call("GET", "/drive/shared")).json()
    children = listing["children"]
    expect_files = 2 * (n - n // 5)
    assert len(children) == expect_files
    expect_bytes = sum(c["size"] for c in children)
    assert (listing["self_files"], listing["self_bytes"]) == (expect_files, expect_bytes)
    t = drive.totals()
    assert (t["total_files"], t["total_dirs"], t["total_bytes"]) == (expect_files, 1,
                                                                      expect_bytes)
    meta = drive.store().meta()
    assert meta["total_files"] == expect_files and meta["total_bytes"] == expect_bytes
    assert meta["pending"] == []
