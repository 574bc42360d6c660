"""The file-manager model: share-relative paths, crumbs, tiles, paging, totals."""

from __future__ import annotations

from pathlib import Path

from rmail.store.accounts import Accounts
from rmail.store.drive import DrivePath, DriveStore
from rmail.web.webmail.drive.model import Permissions, grid

P = DrivePath.parse


def test_grid_of_a_share_never_shows_the_owners_layout(tmp_path: Path) -> None:
    root = tmp_path / "ms"
    Accounts(root).create("example.com", "alice", "x")
    drive = DriveStore(root).drive("example.com", "alice")
    drive.put(P("private/team/pub/photo.png"), b"\x89PNG....", content_type="image/png")
    drive.put(P("private/team/pub/sub/notes.txt"), b"hello")
    drive.put(P("private/team/pub/evil.html"), b"<script>", content_type="text/html")
    for i in range(7):
        drive.mkdir(P(f"private/team/pub/d{i}"))
    share_root = P("private/team/pub")
    info = drive.listdir(share_root, offset=0, limit=5)
    g = grid(info, share_root, root_name="Pub", offset=0, limit=5)
    assert g.rel == "" and [c.rel for c in g.crumbs] == [""] and g.crumbs[0].name == "Pub"
    assert (g.total_files, g.total_dirs, g.total_bytes) == (3, 8, 8 + 5 + 8)
    assert g.count == 10 and len(g.tiles) == 5 and g.next_offset == 5 and g.prev_offset is None
    assert [t.rel for t in g.tiles] == ["d0", "d1", "d2", "d3", "d4"]
    page2 = grid(drive.listdir(share_root, offset=5, limit=5), share_root, root_name="Pub",
                 offset=5, limit=5)
    assert [t.rel for t in page2.tiles] == ["d5", "d6", "sub", "evil.html", "photo.png"]
    assert page2.next_offset is None and page2.prev_offset == 0
    evil, photo = page2.tiles[3], page2.tiles[4]
    assert (evil.kind, evil.inline) == ("code", True)  # opened as text/plain only
    assert (photo.kind, photo.inline, photo.thumb) == ("photo", True, True)
    sub = grid(drive.listdir(P("private/team/pub/sub")), share_root, root_name="Pub",
               offset=0)
    assert [(c.name, c.rel) for c in sub.crumbs] == [("Pub", ""), ("sub", "sub")]
    assert sub.tiles[0].rel == "sub/notes.txt"
    assert all("private" not in t.rel for t in (*g.tiles, *page2.tiles, *sub.tiles))


def test_permissions_of_a_share() -> None:
    assert Permissions.of_share("RCU") == Permissions(create=True, upload=True, delete=False,
                                                      owner=False)
    assert Permissions.of_share("RC") == Permissions(create=True, upload=False, delete=False,
                                                     owner=False)
