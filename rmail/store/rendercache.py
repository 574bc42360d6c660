"""Saved renderings of messages (`rmail.mail.rendered`): what the JSON API's message view and
the webmail's body frame would otherwise recompute on every request (nh3 over a large HTML
body, the text, header and attachment lists), shared by every worker process through the
disk. A cache: losing any file costs one rendering, never data.

Where and when (the tree is in `rmail.store.layout`): `{folder}/render/{uid}.r.json` (remote
content kept) and `{uid}.l.json` (dropped). Inside a folder a UID names one message for the
folder's life (never reused; a folder made again gets a new id and directory), so the path
cannot name another message; each file also records the UIDVALIDITY, the message file's
identity (inode, mtime, size) and `renderer()`, and is ignored and rewritten when any of them
differs, or when it does not parse (torn, damaged). A reader checks that the message is in
the index before looking at the file, so an expunged message is never served from here;
its files go with its message file (`Folder.expunge` hands them to the reaper), a deleted
folder's with its directory, and `rmail check` removes any a crash left behind.

Writes are temp file + rename without fsync (a crash leaves the old file, none, or a stray
temp file that the next trim removes). Only messages of at least `MIN_BYTES` are saved:
smaller ones render in about a millisecond. Each user's saved renderings are bounded by
`MAX_USER_BYTES`: a write that takes the user over it removes the least recently used files
(reads refresh a file's mtime at most once an hour) down to three quarters of it.

Not rendered at delivery: a 1 MB HTML body costs nh3 about 0.2 s of CPU, several times what
storing the message costs, and most mail is read by IMAP clients that render it themselves;
the first reader through the API or the webmail pays once, every later one (any worker)
reads the file.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import orjson

from rmail.mail.rendered import Rendered, render_message, renderer
from rmail.store import fsutil
from rmail.store.errors import NotFound
from rmail.store.mailbox import Folder

__all__ = ["FORMAT_VERSION", "MAX_USER_BYTES", "MIN_BYTES", "load", "orphans", "rendered"]

FORMAT_VERSION = 1
MIN_BYTES = 32 * 1024
MAX_USER_BYTES = 256 * 1024 * 1024
MAX_ENTRY_BYTES = 64 * 1024 * 1024
TOUCH_SECONDS = 3600
_TMP_SUFFIX = ".tmp"


def _identity(folder: Folder, uid: int) -> list[int]:
    try:
        st = os.stat(folder.layout.msg_file(uid))
    except FileNotFoundError as exc:
        raise NotFound(f"message file for UID {uid} is missing") from exc
    return [st.st_ino, st.st_mtime_ns, st.st_size]


def load(path: Path, uidvalidity: int, identity: list[int]) -> Rendered | None:
    """The rendering saved at `path` for this message, None when there is none usable."""
    try:
        with open(path, "rb") as f:
            doc = orjson.loads(f.read())
        if not (isinstance(doc, dict) and doc.get("version") == FORMAT_VERSION
                and doc.get("renderer") == renderer() and doc.get("uidvalidity") == uidvalidity
                and doc.get("message") == identity):
            return None
        found = Rendered.from_doc(doc.get("rendered"))
    except (OSError, ValueError):  # missing, unreadable, torn or damaged: render again
        return None
    with contextlib.suppress(OSError):
        st = os.stat(path)
        if time.time() - st.st_mtime > TOUCH_SECONDS:
            os.utime(path)  # recently used: the trim keeps it
    return found


def rendered(folder: Folder, uid: int, *, allow_remote: bool, min_bytes: int = MIN_BYTES,
             max_user_bytes: int = MAX_USER_BYTES) -> Rendered:
    """Message `uid` of `folder` rendered: from the saved file when it is current, else
    rendered now (and saved when the message is big enough). NotFound for a message that is
    not in the folder (expunged), whatever is on disk."""
    rec = folder.record(uid)
    uidvalidity = folder.uidvalidity
    identity = _identity(folder, uid)
    path = folder.layout.render_file(uid, allow_remote)
    if rec.size >= min_bytes:
        found = load(path, uidvalidity, identity)
        if found is not None:
            return found
    raw = folder.read_message(uid)
    result = render_message(raw, folder.meta(uid), allow_remote=allow_remote)
    if rec.size >= min_bytes:
        _save(folder, uid, path, {"version": FORMAT_VERSION, "renderer": renderer(),
                                  "uidvalidity": uidvalidity, "message": identity,
                                  "rendered": result.to_doc()}, max_user_bytes)
    return result


def _save(folder: Folder, uid: int, path: Path, doc: dict[str, object],
          max_user_bytes: int) -> None:
    try:
        data = orjson.dumps(doc)
    except TypeError:  # text orjson refuses (lone surrogates): served, just not saved
        return
    if len(data) > min(MAX_ENTRY_BYTES, max_user_bytes // 4):
        return
    try:
        try:
            fsutil.atomic_write(path, data, durable=False)
        except FileNotFoundError:
            fsutil.ensure_dir(path.parent)
            fsutil.atomic_write(path, data, durable=False)
    except OSError:
        return  # a cache: a full disk or a folder deleted meanwhile only costs a rendering
    try:
        folder.record(uid)
    except NotFound:  # expunged while we rendered: the reaper may have run already
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    trim(folder.owner.layout.dir, max_user_bytes)


def _entries(mail_dir: Path) -> list[tuple[float, int, str]]:
    """(mtime, bytes, path) of every saved rendering (and stray temp file) of a user."""
    out: list[tuple[float, int, str]] = []
    try:
        folders = list(os.scandir(mail_dir))
    except OSError:
        return out
    for folder in folders:
        try:
            files = list(os.scandir(os.path.join(folder.path, "render")))
        except OSError:  # not a folder, or nothing rendered in it
            continue
        for entry in files:
            with contextlib.suppress(OSError):
                st = entry.stat()
                out.append((st.st_mtime, st.st_size, entry.path))
    return out


def trim(mail_dir: Path, max_user_bytes: int) -> int:
    """Keep a user's saved renderings under `max_user_bytes`: over it, remove the least
    recently used down to three quarters of it. Returns the files removed."""
    entries = _entries(mail_dir)
    total = sum(size for _, size, _ in entries)
    if total <= max_user_bytes:
        return 0
    removed = 0
    for _, size, path in sorted(entries):
        if total <= max_user_bytes * 3 // 4:
            break
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed += 1
        total -= size
    return removed


def orphans(folder: Folder, live: set[int]) -> list[Path]:
    """Saved renderings (and temp files) in `folder` whose message is not in `live` (what a
    crash between an expunge and the reaper can leave): for `rmail check`."""
    out: list[Path] = []
    try:
        names = os.listdir(folder.layout.render_dir)
    except OSError:
        return out
    for name in names:
        head = name.split(".", 1)[0]
        if name.startswith(".") or name.endswith(_TMP_SUFFIX) or not head.isdigit() \
                or int(head) not in live:
            out.append(folder.layout.render_dir / name)
    return out
