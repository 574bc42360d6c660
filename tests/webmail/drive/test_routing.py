"""The routing decision between a share UID and an owner's path (routing.py's docstring)."""

from __future__ import annotations

import pytest

from rmail.store.drive import DrivePath, Share
from rmail.store.errors import InvalidValue, NotFound, UnsafeName
from rmail.web.webmail.drive.routing import (
    DeadLink,
    OwnerPage,
    PublicPage,
    SharedList,
    route,
)

LIVE = "QZGu_wPlp_OXbgKmw4aPreneMO3-scJi"
UNDERSCORE = "_ZGu_wPlp_OXbgKmw4aPreneMO3-scJi"
DASH = "-ZGu_wPlp_OXbgKmw4aPreneMO3-scJi"
DEAD = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
SHARES = {uid: Share(uid, "example.com", "alice", "docs", "Docs", "RC", 0.0)
          for uid in (LIVE, UNDERSCORE, DASH)}


def r(path: str, logged_in: bool = True):  # type: ignore[no-untyped-def]
    segments = [s for s in path.split("/") if s]
    return route(segments, logged_in=logged_in, live_share=SHARES.get)


def test_owner_pages() -> None:
    assert r("") == OwnerPage(DrivePath())
    assert r("docs/a.txt") == OwnerPage(DrivePath.parse("docs/a.txt"))
    assert r("docs/_share") == OwnerPage(DrivePath.parse("docs"), "_share")
    assert r("_upload") == OwnerPage(DrivePath(), "_upload")
    assert r("a/b/_mkdir") == OwnerPage(DrivePath.parse("a/b"), "_mkdir")
    assert r("_shared") == SharedList()
    assert r("_shared/_revoke") == SharedList(revoke=True)
    with pytest.raises(NotFound):
        r("docs/_explode")
    with pytest.raises(InvalidValue):
        r("_share")  # the root cannot be shared
    with pytest.raises(UnsafeName):
        r("docs/../etc")


@pytest.mark.parametrize("uid", [LIVE, UNDERSCORE, DASH])
def test_a_live_share_wins_with_or_without_a_session(uid: str) -> None:
    for logged_in in (True, False):
        page = r(f"{uid}/Docs/sub/x.txt", logged_in)
        assert isinstance(page, PublicPage)
        assert page.share.uid == uid and page.name == "Docs"
        assert page.sub == DrivePath.parse("sub/x.txt") and page.action is None
    assert r(f"{uid}", False) == PublicPage(SHARES[uid], None, DrivePath())
    assert r(f"{uid}/Docs/_upload", False).action == "_upload"  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        r(f"{uid}/Docs/_share", False)  # owner-only actions never reach a visitor
    with pytest.raises(UnsafeName):
        r(f"{uid}/a..b/x", False)


def test_dead_links_are_404_without_a_session_and_paths_with_one() -> None:
    assert r(f"{DEAD}/Docs", logged_in=False) == DeadLink()
    assert r(DEAD, logged_in=True) == OwnerPage(DrivePath.parse(DEAD))
    # `_` starts no owner's name: such a UID is dead for everyone
    assert r("_" + DEAD[1:] + "/x", logged_in=True) == DeadLink()
    # 31 or 33 characters are ordinary names
    assert r(DEAD[:31], logged_in=False) == OwnerPage(DrivePath.parse(DEAD[:31]))
