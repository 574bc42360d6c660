"""The drive's webmail pages over HTTP with a cookie-keeping client: the owner's file manager,
share pages, the public view with its per-share CSRF, dead links, forged forms."""

from __future__ import annotations

import re

import aiohttp
from yarl import URL

from rmail.store.drive import DrivePath
from tests.webmail.conftest import Browser, Reply

DOMAIN = "example.com"


def drive_of(browser: Browser, user: str = "alice"):  # type: ignore[no-untyped-def]
    from rmail.store.drive import DriveStore

    return DriveStore(browser.config.mail_root).drive(DOMAIN, user)


def files_form(csrf: str, *files: tuple[str, bytes]) -> aiohttp.MultipartWriter:
    """A browser's upload: the csrf field first, then `filename="dir/name"` parts."""
    writer = aiohttp.MultipartWriter("form-data")
    part = writer.append(csrf)
    part.headers["Content-Disposition"] = 'form-data; name="csrf"'
    for name, content in files:
        part = writer.append(content, {"Content-Type": "application/octet-stream"})
        part.headers["Content-Disposition"] = f'form-data; name="files"; filename="{name}"'
    return writer


def attr(reply: Reply, selector_re: str) -> list[str]:
    return re.findall(selector_re, reply.text)


async def test_owner_grid_upload_mkdir_delete_rename(browser: Browser) -> None:
    await browser.login()
    page = await browser.get("/webmail/drive/")
    assert page.status == 200
    assert 'class="drive-grid" data-path="" data-total-files="0"' in page.text
    csrf = page.form("upload-files")["fields"]["csrf"]
    r = await browser.post(page.form("upload-folder")["action"], data=files_form(
        csrf, ("trip/day1/a.jpg", b"\xff\xd8jpeg"), ("trip/notes.txt", b"hello"),
        ("trip/day2/b.bin", b"\x00\x01")))
    assert r.status == 303, r.text[:300]
    page = await browser.follow(r)
    assert 'data-done="uploaded"' in page.text
    assert 'data-path="trip" data-type="dir"' in page.text
    trip = await browser.get("/webmail/drive/trip")
    assert 'data-path="trip" data-total-files="3" data-total-dirs="2" data-total-bytes="13"' \
        in trip.text
    assert 'data-path="trip/notes.txt" data-type="file" data-kind="document"' in trip.text
    day1 = await browser.get("/webmail/drive/trip/day1")
    assert 'data-kind="photo"' in day1.text and 'class="tile-thumb"' in day1.text
    # new nested folder
    r = await browser.submit(trip, "new-folder", name="x/y/z")
    assert r.status == 303
    assert drive_of(browser).stat(DrivePath.parse("trip/x/y/z")).is_dir
    # bad name: the form comes back with an error
    r = await browser.submit(trip, "new-folder", name="../escape")
    assert r.status == 400 and 'class="form-error' in r.text
    # delete asks first, then deletes
    r = await browser.submit(trip, "tile-delete", path="trip/x")
    assert r.status == 200 and "action-confirm-delete" in r.text
    r = await browser.submit(r, "confirm-form")
    assert r.status == 303 and not drive_of(browser).exists(DrivePath.parse("trip/x"))
    # rename / move
    page = await browser.get("/webmail/drive/trip/notes.txt/_rename")
    r = await browser.submit(page, "rename-form", to="trip/day1/renamed.txt")
    assert r.status == 303
    assert drive_of(browser).exists(DrivePath.parse("trip/day1/renamed.txt"))
    page = await browser.get("/webmail/drive/trip/day1/renamed.txt/_rename")
    r = await browser.submit(page, "rename-form", to="trip/day2/b.bin")  # never clobbers
    assert r.status == 409 and "form-error" in r.text
    # files open in place or download
    got = await browser.get("/webmail/drive/trip/day1/renamed.txt")
    assert got.status == 200 and got.text == "hello"
    assert got.headers["Content-Type"].startswith("text/plain")
    assert got.headers["Content-Disposition"].startswith("inline")
    assert "sandbox" in got.headers["Content-Security-Policy"]
    got = await browser.get("/webmail/drive/trip/day2/b.bin")
    assert got.headers["Content-Disposition"].startswith("attachment")


async def test_pages_need_a_session_and_csrf(browser: Browser, make_browser) -> None:  # type: ignore[no-untyped-def]
    r = await browser.get("/webmail/drive/docs")
    assert r.status == 303 and "/webmail/login" in r.headers["Location"]
    await browser.login()
    page = await browser.get("/webmail/drive/")
    form = page.form("new-folder")
    r = await browser.post(form["action"], data={"name": "x", "csrf": "forged"})
    assert r.status == 403
    r = await browser.post(form["action"], data={"name": "x"})
    assert r.status == 403
    assert not drive_of(browser).exists(DrivePath.parse("x"))


async def test_share_pages_public_view_and_dead_links(browser: Browser,
                                                      make_browser) -> None:  # type: ignore[no-untyped-def]
    await browser.login()
    drive = drive_of(browser)
    drive.put(DrivePath.parse("team/pub/readme.txt"), b"read me")
    drive.put(DrivePath.parse("team/secret.txt"), b"secret")
    page = await browser.get("/webmail/drive/team/pub/_share")
    assert page.status == 200 and "share-form" in page.text
    r = await browser.submit(page, "share-form", name="Pub", permissions=["C", "U"])
    assert r.status == 303
    page = await browser.follow(r)
    uid, perms = re.search(r'class="share-item" data-uid="([^"]+)" data-permissions="([^"]+)"',
                           page.text).groups()  # type: ignore[union-attr]
    assert perms == "RCU"
    link = re.search(r'class="share-link" type="text" readonly value="([^"]+)"', page.text)
    assert link is not None and link.group(1) == f"{browser.base}/drive/{uid}/Pub"
    listing = await browser.get("/webmail/drive/_shared")
    assert f'data-uid="{uid}" data-permissions="RCU" data-target="team/pub"' in listing.text
    # a browser opening the public link of a folder is sent to the file manager (302)
    visitor = await make_browser(share=browser)
    r = await visitor.get(f"/drive/{uid}/Pub", headers={"Accept": "text/html"})
    assert r.status == 302
    assert r.headers["Location"] == f"{browser.base}/webmail/drive/{uid}/Pub"
    view = await visitor.follow(r)
    assert view.status == 200 and 'class="drive-grid" data-path=""' in view.text
    assert "team" not in re.sub(r"<title>.*?</title>", "", view.text)  # share-relative only
    assert "upload-files" in view.text and "new-folder" in view.text
    assert "row-check" not in view.text and "action-delete" not in view.text
    assert "aside" not in view.text  # no sidebar, no session
    csrf = view.form("upload-files")["fields"]["csrf"]
    r = await visitor.post(view.form("upload-files")["action"],
                           data=files_form(csrf, ("new/up.txt", b"from a visitor")))
    assert r.status == 303
    assert drive.stat(DrivePath.parse("team/pub/new/up.txt")).size == 14
    r = await visitor.submit(view, "new-folder", name="made/here")
    assert r.status == 303 and drive.exists(DrivePath.parse("team/pub/made/here"))
    # a forged delete (right token, no D) is refused; so is a token of another share
    delete_url = f"/webmail/drive/{uid}/Pub/_delete"
    r = await visitor.post(delete_url, data={"csrf": csrf, "path": "readme.txt",
                                             "confirm": "yes"})
    assert r.status == 403 and drive.exists(DrivePath.parse("team/pub/readme.txt"))
    r = await visitor.post(view.form("new-folder")["action"], data={"name": "z",
                                                                    "csrf": "0" * 64})
    assert r.status == 403
    # a cross-site post carries no cookie: refused
    stranger = await make_browser(share=browser)
    r = await stranger.post(view.form("new-folder")["action"], data={"name": "z",
                                                                     "csrf": csrf})
    assert r.status == 403 and not drive.exists(DrivePath.parse("team/pub/z"))
    # the file opens for the visitor; paths outside the share do not exist for it
    got = await visitor.get(f"/webmail/drive/{uid}/Pub/readme.txt")
    assert got.status == 200 and got.text == "read me"
    for bad in ("../secret.txt", "%2e%2e/secret.txt", "..%2fsecret.txt", "sub/../../x"):
        url = URL(f"{visitor.base}/webmail/drive/{uid}/Pub/{bad}", encoded=True)
        async with visitor.session.get(url, allow_redirects=False) as raw:
            assert raw.status in (400, 404), (bad, raw.status)
    # revoke: the link is dead everywhere, the same 404
    page = await browser.get("/webmail/drive/team/pub/_share")
    r = await browser.submit(page, "action-revoke")
    assert r.status == 303
    for path in (f"/webmail/drive/{uid}/Pub", f"/webmail/drive/{uid}/Pub/readme.txt",
                 f"/drive/{uid}/Pub"):
        r = await visitor.get(path, headers={"Accept": "text/html"})
        assert r.status == 404, (path, r.status)
    r = await visitor.post(view.form("new-folder")["action"], data={"name": "z",
                                                                    "csrf": csrf})
    assert r.status == 404


async def test_expired_link_is_404(browser: Browser, make_browser) -> None:  # type: ignore[no-untyped-def]
    drive = drive_of(browser)
    drive.put(DrivePath.parse("f.txt"), b"x")
    share = browser.services.accounts  # noqa: F841  (the share store is the drive's)
    from rmail.store.drive import DriveStore

    shares = DriveStore(browser.config.mail_root).shares
    s = shares.create(DOMAIN, "alice", DrivePath.parse("f.txt"), permissions="R", expires=1)
    visitor = await make_browser(share=browser)
    for path in (f"/webmail/drive/{s.uid}/f.txt", f"/drive/{s.uid}/f.txt"):
        assert (await visitor.get(path)).status == 404


async def test_hostile_names_are_escaped_and_big_folders_page(browser: Browser) -> None:
    await browser.login()
    drive = drive_of(browser)
    evil = 'x"><script>alert(1)</script>&.txt'
    drive.put(DrivePath.parse(f"d/{evil}"), b"x")
    page = await browser.get("/webmail/drive/d")
    assert "<script>alert(1)" not in page.text
    assert 'data-path="d/x&#34;&gt;&lt;script&gt;' in page.text or \
        'data-path="d/x&quot;&gt;&lt;script&gt;' in page.text
    from rmail.web.webmail.drive.model import PAGE_SIZE

    items = []
    for i in range(PAGE_SIZE + 5):
        path = DrivePath.parse(f"big/f{i:04d}")
        up = drive.begin_write(path, form_upload=True)
        up.write(b"1")
        items.append((path, up, None))
    drive.write_many(items)
    first = await browser.get("/webmail/drive/big")
    assert first.text.count('class="tile-wrap') == PAGE_SIZE
    assert f'data-total-files="{PAGE_SIZE + 5}"' in first.text and "pagination-next" in first.text
    second = await browser.get(f"/webmail/drive/big?offset={PAGE_SIZE}")
    assert second.text.count('class="tile-wrap') == 5 and "pagination-prev" in second.text


async def test_concurrent_uploads_and_malformed_forms(browser: Browser,
                                                      make_browser) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    await browser.login()
    page = await browser.get("/webmail/drive/")
    form = page.form("upload-files")
    second = await make_browser(share=browser)
    await second.login()
    page2 = await second.get("/webmail/drive/")
    form2 = page2.form("upload-files")

    async def send(who: Browser, f: dict, prefix: str) -> list[int]:  # type: ignore[type-arg]
        out = []
        for i in range(8):
            r = await who.post(f["action"], data=files_form(
                f["fields"]["csrf"], (f"{prefix}/{i}.txt", b"x" * (i + 1))))
            out.append(r.status)
        return out

    a, b = await asyncio.gather(send(browser, form, "same"), send(second, form2, "same/b"))
    assert set(a) | set(b) == {303}
    c = drive_of(browser).counters(DrivePath.parse("same"))
    assert (c["total_files"], c["total_bytes"]) == (16, 2 * sum(range(1, 9)))
    # a body that is not the multipart it claims to be
    r = await browser.post(form["action"], data=b"--nope\r\n\r\n",
                           headers={"Content-Type": "multipart/form-data; boundary=nope"})
    assert r.status in (400, 403)
    # a form with the token but no file
    writer = aiohttp.MultipartWriter("form-data")
    part = writer.append(form["fields"]["csrf"])
    part.headers["Content-Disposition"] = 'form-data; name="csrf"'
    r = await browser.post(form["action"], data=writer)
    assert r.status == 400 and "form-error" in r.text


async def test_visitor_with_delete_rights(browser: Browser, make_browser) -> None:  # type: ignore[no-untyped-def]
    from rmail.store.drive import DriveStore

    drive = drive_of(browser)
    drive.put(DrivePath.parse("box/a.txt"), b"a")
    drive.put(DrivePath.parse("box/sub/b.txt"), b"b")
    share = DriveStore(browser.config.mail_root).shares.create(
        DOMAIN, "alice", DrivePath.parse("box"), name="Box", permissions="RD")
    visitor = await make_browser(share=browser)
    view = await visitor.get(f"/webmail/drive/{share.uid}/Box/")
    assert 'class="row-check"' in view.text and 'class="action-delete"' in view.text
    assert "new-folder" not in view.text and "upload-files" not in view.text
    assert "action-share" not in view.text and "action-rename" not in view.text
    # the checkbox values are share-relative; the confirmation step, then the delete
    assert 'name="path" value="sub"' in view.text
    r = await visitor.submit(view, "tile-delete", path="sub")
    assert r.status == 200 and "action-confirm-delete" in r.text
    r = await visitor.submit(r, "confirm-form")
    assert r.status == 303 and not drive.exists(DrivePath.parse("box/sub"))
    # the share's root is never deleted through its link, not even by a forged form
    token = view.form("tile-delete")["fields"]["csrf"]
    for path in ("", "/", "."):
        r = await visitor.post(f"/webmail/drive/{share.uid}/Box/_delete",
                               data={"csrf": token, "path": path, "confirm": "yes"})
        assert r.status in (400, 403), (path, r.status)
    assert drive.exists(DrivePath.parse("box/a.txt"))
    # nor can a path climb out of the share
    r = await visitor.post(f"/webmail/drive/{share.uid}/Box/_delete",
                           data={"csrf": token, "path": "../box", "confirm": "yes"})
    assert r.status == 400 and drive.exists(DrivePath.parse("box"))
