"""`rmail.store.rendercache` on a real store: the size bound (least recently used out),
the saving threshold, a message rewritten under its UID, and removal with the message."""

from __future__ import annotations

import os
import time

from rmail.store import rendercache
from rmail.store.mailbox import REAPER, Folder, UserMailbox
from tests.store.conftest import message


def html(n: int, size: int = 40_000) -> bytes:
    """An HTML-only message above `rendercache.MIN_BYTES`."""
    return (f"From: sender{n}@example.org\r\nTo: alice@example.com\r\nSubject: html {n}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>"
            ).encode() + b"x" * size + b"</p>\r\n"


def test_saved_only_above_the_threshold(inbox: Folder) -> None:
    small = inbox.append(message(1)).uid
    big = inbox.append(html(2)).uid
    rendercache.rendered(inbox, small, allow_remote=True)
    rendercache.rendered(inbox, big, allow_remote=True)
    assert not inbox.layout.render_file(small, True).exists()
    assert inbox.layout.render_file(big, True).exists()
    forced = rendercache.rendered(inbox, small, allow_remote=False, min_bytes=0)
    assert inbox.layout.render_file(small, False).exists()
    assert rendercache.rendered(inbox, small, allow_remote=False, min_bytes=0) == forced


def test_expunge_removes_the_renderings(inbox: Folder) -> None:
    uid = inbox.append(html(1)).uid
    for remote in (True, False):
        rendercache.rendered(inbox, uid, allow_remote=remote)
    inbox.expunge([uid])
    REAPER.flush()
    assert not inbox.layout.render_file(uid, True).exists()
    assert not inbox.layout.render_file(uid, False).exists()
    assert rendercache.orphans(inbox, set(inbox.uids())) == []


def test_other_message_file_means_render_again(inbox: Folder) -> None:
    """A message file replaced under its UID (a restore from backup): the identity recorded
    in the saved file no longer matches, so it is not used."""
    uid = inbox.append(html(1)).uid
    first = rendercache.rendered(inbox, uid, allow_remote=True)
    path = inbox.layout.msg_path(uid)
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)  # another inode
    second = rendercache.rendered(inbox, uid, allow_remote=True)
    assert second.nonce != first.nonce and second.parts[0].startswith("<p>xxx")


def test_user_bound_drops_least_recently_used(mailbox: UserMailbox, inbox: Folder) -> None:
    other = mailbox.folder("Archive")
    uids = [inbox.append(html(i)).uid for i in range(4)] + [other.append(html(9)).uid]
    folders = [inbox] * 4 + [other]
    for i, (folder, uid) in enumerate(zip(folders, uids, strict=True)):
        rendercache.rendered(folder, uid, allow_remote=True)
        old = time.time() - 10_000 + i * 100  # written in this order, long ago
        os.utime(folder.layout.render_file(uid, True), (old, old))
    size = inbox.layout.render_file(uids[0], True).stat().st_size
    # a read refreshes the first one: it becomes the most recently used
    rendercache.rendered(inbox, uids[0], allow_remote=True)
    removed = rendercache.trim(mailbox.layout.dir, max_user_bytes=int(size * 3.5))
    assert removed == 3
    left = [u for f, u in zip(folders, uids, strict=True)
            if f.layout.render_file(u, True).exists()]
    assert left == [uids[0], uids[4]]
    assert rendercache.trim(mailbox.layout.dir, max_user_bytes=10 * size) == 0
