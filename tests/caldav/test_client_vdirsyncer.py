"""End to end with vdirsyncer (PyPI), a real two-way CalDAV/CardDAV sync client, driven as a
subprocess against the running app: discover, initial sync both ways, changes, deletions."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

from tests.caldav.conftest import DOMAIN, PASSWORDS, event
from tests.caldav.test_carddav import card, put_card

VDIRSYNCER = shutil.which("vdirsyncer") or str(Path(sys.executable).with_name("vdirsyncer"))
pytestmark = pytest.mark.skipif(not Path(VDIRSYNCER).exists(),
                                reason="vdirsyncer (PyPI) is not installed")

CONFIG = """[general]
status_path = "{base}/status/"

[pair cal]
a = "cal_local"
b = "cal_remote"
collections = ["from a", "from b"]
conflict_resolution = "b wins"

[storage cal_local]
type = "filesystem"
path = "{base}/cal/"
fileext = ".ics"

[storage cal_remote]
type = "caldav"
url = "{url}"
username = "alice@{domain}"
password = "{password}"

[pair book]
a = "book_local"
b = "book_remote"
collections = ["from a", "from b"]

[storage book_local]
type = "filesystem"
path = "{base}/book/"
fileext = ".vcf"

[storage book_remote]
type = "carddav"
url = "{url}"
username = "alice@{domain}"
password = "{password}"
"""


async def vdirsyncer(conf: Path, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        VDIRSYNCER, "-c", str(conf), *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(b"y\n" * 20), timeout=300)
    text = out.decode("utf-8", "replace")
    assert proc.returncode == 0, text[-4000:]
    return text


async def test_vdirsyncer_two_way_sync(dav, tmp_path: Path) -> None:
    base = tmp_path / "vdir"
    conf = tmp_path / "vdirsyncer.conf"
    url = str(dav.client.make_url("/.well-known/caldav")).rsplit("/.well-known", 1)[0]
    conf.write_text(CONFIG.format(base=base, url=url + "/caldav/", domain=DOMAIN,
                                  password=PASSWORDS["alice"]))
    assert (await dav.put(dav.cal() + "srv-1.ics", event("srv-1"))).status == 201
    r = await put_card(dav, "/caldav/alice/contacts/default/c1.vcf", card("c1", "Carol"))
    assert r.status == 201

    await vdirsyncer(conf, "discover")
    await vdirsyncer(conf, "sync")
    local_cal = base / "cal" / "default"
    assert (local_cal / "srv-1.ics").is_file()
    assert b"UID:srv-1" in (local_cal / "srv-1.ics").read_bytes()
    assert any(p.read_text().count("FN:Carol") for p in (base / "book" / "default").glob("*"))

    # local changes go up: a new event, a deleted one
    (local_cal / "loc-1.ics").write_text(event("loc-1", summary="From disk"))
    await vdirsyncer(conf, "sync")
    r = await dav.request("GET", dav.cal() + "loc-1.ics")
    assert r.status == 200 and b"From disk" in r.body
    (local_cal / "srv-1.ics").unlink()
    await vdirsyncer(conf, "sync")
    assert (await dav.request("GET", dav.cal() + "srv-1.ics")).status == 404

    # server changes come down
    r = await dav.put(dav.cal() + "loc-1.ics", event("loc-1", summary="Edited on server"))
    assert r.status == 204
    await vdirsyncer(conf, "sync")
    assert "Edited on server" in (local_cal / "loc-1.ics").read_text()
