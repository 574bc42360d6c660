"""POST: ?action=mkdir (with parents, idempotent) and multipart uploads whose filenames carry
nested paths, each component validated."""

from __future__ import annotations

import io

import aiohttp

from tests.drive.conftest import Drive


def form(*files: tuple[str, bytes], field: tuple[str, str] | None = None
         ) -> aiohttp.MultipartWriter:
    """A body as browsers send it: `filename="dir/sub/name"` verbatim (aiohttp's FormData would
    percent-encode the slashes)."""
    writer = aiohttp.MultipartWriter("form-data")
    if field:
        part = writer.append(field[1])
        part.headers["Content-Disposition"] = f'form-data; name="{field[0]}"'
    for name, content in files:
        part = writer.append(content, {"Content-Type": "application/octet-stream"})
        if name.startswith("*"):  # RFC 5987 form, percent-encoded (how NUL can be smuggled)
            part.headers["Content-Disposition"] = \
                f"form-data; name=\"file\"; filename*=utf-8''{name[1:]}"
        else:
            part.headers["Content-Disposition"] = f'form-data; name="file"; filename="{name}"'
    return writer


async def test_mkdir_action(drive: Drive) -> None:
    r = await drive.call("POST", "/drive/projects/alpha/src?action=mkdir")
    assert r.status == 201 and r.json()["type"] == "dir"
    assert r.json()["path"] == "projects/alpha/src"
    assert drive.totals()["total_dirs"] == 3
    r = await drive.call("POST", "/drive/projects/alpha?action=mkdir")
    assert r.status == 200
    await drive.call("PUT", "/drive/f", data=b"x")
    assert (await drive.call("POST", "/drive/f?action=mkdir")).status == 409
    assert (await drive.call("POST", "/drive/x?action=explode")).status == 400


async def test_multipart_upload_with_nested_filenames(drive: Drive) -> None:
    r = await drive.call("POST", "/drive/up", data=form(
        ("a.txt", b"A"), ("folder/sub/b.txt", b"BB"), ("folder/c.png", b"CCC"),
        field=("note", "not a file")))
    assert r.status == 201, r.body
    up = r.json()["uploaded"]
    assert [u["path"] for u in up] == ["up/a.txt", "up/folder/sub/b.txt", "up/folder/c.png"]
    assert all(u["created"] for u in up)
    assert (await drive.call("GET", "/drive/up/folder/sub/b.txt")).body == b"BB"
    t = drive.totals()
    assert (t["total_files"], t["total_dirs"], t["total_bytes"]) == (3, 3, 6)


async def test_multipart_traversal_is_refused(drive: Drive) -> None:
    for name in ("../escape.txt", "a/../../x", "a//b", "_index.json", "x/_meta.json",
                 "evil.tmp", "a\\..\\b", "dir/..", "x" * 256, "*nul%00byte", "*ctl%01x",
                 "*%2e%2e/x", "*%2e%2e%2fx", "*a%2f..%2fb", "*%c0%ae%c0%ae"):
        r = await drive.call("POST", "/drive/up", data=form((name, b"x")))
        assert r.status == 400, (name, r.status, r.body)
    assert drive.totals()["total_files"] == 0
    assert not (drive.files_dir().parent.parent / "escape.txt").exists()
    # A leading "/" is dropped by the multipart parser: the file still lands under {path}/.
    r = await drive.call("POST", "/drive/up", data=form(("/etc/passwd", b"x")))
    assert r.status == 201 and r.json()["uploaded"][0]["path"] == "up/etc/passwd"


async def test_post_needs_multipart(drive: Drive) -> None:
    r = await drive.call("POST", "/drive/up", data=b"raw", headers={"Content-Type": "text/plain"})
    assert r.status == 415
    r = await drive.call("POST", "/drive/up", data=form(field=("only", "fields")))
    assert r.status == 400


async def test_folder_upload_is_all_or_nothing(drive: Drive) -> None:
    """Parts are staged, then committed in one store call: one bad part and nothing lands."""
    r = await drive.call("POST", "/drive/up", data=form(
        ("tree/a.txt", b"A"), ("tree/deep/b.txt", b"B"), ("tree/../c.txt", b"C")))
    assert r.status == 400
    # a file and a folder of the same name in one upload
    r = await drive.call("POST", "/drive/up", data=form(("x", b"1"), ("x/y", b"2")))
    assert r.status == 409
    r = await drive.call("POST", "/drive/up", data=form(("dup", b"1"), ("dup", b"2")))
    assert r.status == 409
    assert (await drive.call("GET", "/drive/up")).status == 404
    assert drive.totals()["total_files"] == 0
    assert not [n for n in (drive.files_dir().parent / "tmp").iterdir()]


async def test_multipart_upload_over_quota(drive: Drive) -> None:
    from tests.drive.test_quota import set_quota_mb, stream

    set_quota_mb(drive, 1)
    # the body's length says it cannot fit: refused before it is read
    writer = form(("small.bin", b"s"))
    part = writer.append(io.BytesIO(b"x" * (6 * 1024 * 1024)),
                         {"Content-Type": "application/octet-stream"})
    part.headers["Content-Disposition"] = 'form-data; name="file"; filename="a.bin"'
    assert writer.size is not None
    r = await drive.call("POST", "/drive/up", data=writer)
    assert r.status == 413
    # chunked, no length: refused while it arrives; the part that fitted is not kept either
    writer = form(("small.bin", b"s" * 1000))
    part = writer.append(stream(3 * 1024 * 1024), {"Content-Type": "application/octet-stream"})
    part.headers["Content-Disposition"] = 'form-data; name="file"; filename="big.bin"'
    r = await drive.call("POST", "/drive/up", data=writer)
    assert r.status == 413
    assert drive.totals()["total_files"] == 0
    assert not [n for n in (drive.files_dir().parent / "tmp").iterdir()]
