"""Request bodies into the drive without holding a file in memory, for every front end that
takes uploads (the JSON/WebDAV drive and the webmail's file manager).

`receive` copies a body (or one multipart part) into a staged `Upload` in batches of about
4 MiB, each written and hashed on the store pool (the `run` the caller passes: `Services.run`),
so memory stays flat for any size and the event loop never blocks on the disk.
`store_form_files` stages every file part of a multipart/form-data body (a browser's "upload
files" or "upload folder": the relative path travels in each part's filename) and commits them
all in ONE store call (`UserDrive.write_many`): one lock, one commit, all or nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import BodyPartReader, MultipartReader

from rmail.store.drive import DrivePath, Entry, Rules, Upload, UserDrive
from rmail.store.errors import InvalidValue

__all__ = ["BATCH", "MAX_FORM_FILES", "UploadRefused", "receive", "store_form_files"]

BATCH = 4 * 1024 * 1024        # bytes handed to the writer and hasher threads at once
WRITEBACK = 8 * 1024 * 1024    # bytes between two writeback starts of a large upload
PART_CHUNK = 256 * 1024
MAX_FORM_FILES = 10_000        # file parts in one multipart upload

Run = Callable[..., Awaitable[Any]]  # `Services.run`: store work off the loop


class UploadRefused(InvalidValue):
    """A multipart body that cannot be an upload (malformed, no file, too many files)."""


def part_path(base: DrivePath, filename: str) -> DrivePath:
    """`{base}/{filename}` with every component of `filename` validated (absolute paths,
    `..`, empty components, reserved names: all refused)."""
    return base.join(DrivePath.parse(filename))


async def store_form_files(reader: MultipartReader, drive: UserDrive, base: DrivePath,
                           rules: Rules, run: Run) -> list[tuple[Entry, bool]]:
    """Stage every `filename=` part below `base` and commit them together; other fields are
    skipped. The quota (in `rules`) bounds what may be staged, so an oversized upload stops
    while it arrives; nothing of a refused upload is left anywhere."""
    staged: list[tuple[DrivePath, Upload, str | None]] = []
    try:
        while True:
            try:
                part = await reader.next()
            except (ValueError, Warning) as exc:  # aiohttp warns on a bad disposition
                raise UploadRefused(f"malformed multipart body: {exc}") from None
            if part is None:
                break
            if not isinstance(part, BodyPartReader) or not part.filename:
                if isinstance(part, BodyPartReader):
                    await part.release()
                continue
            if len(staged) >= MAX_FORM_FILES:
                raise UploadRefused(f"more than {MAX_FORM_FILES} files in one upload")
            dest = part_path(base, part.filename)
            used = sum(u.size for _, u, _ in staged)
            upload: Upload = await run(drive.begin_write, dest, rules=rules,
                                       form_upload=True, staged=used)
            staged.append((dest, upload, part.headers.get("Content-Type")))
            await receive(upload, partial(part.read_chunk, PART_CHUNK), run)
        if not staged:
            raise UploadRefused("no file parts in the upload")
        items, staged = staged, []  # write_many consumes them, whatever happens
        written: list[tuple[Entry, bool]] = await run(drive.write_many, items, rules=rules)
        return written
    finally:
        if staged:
            await run(_abort_all, [u for _, u, _ in staged])


def _abort_all(uploads: list[Upload]) -> None:
    for upload in uploads:
        upload.abort()


async def receive(upload: Upload, read: Callable[[], Awaitable[bytes]], run: Run) -> None:
    """Feed `upload` from `read()` until it returns b"" (aiohttp's `readany` or a multipart
    part's `read_chunk`); QuotaExceeded as soon as the limit is passed.

    Three things overlap: the event loop receives the next batch while one thread of the
    store pool (``run``) writes the previous batch and another hashes it, and every
    `WRITEBACK` bytes the disk is asked to start writing them (`Upload.start_writeback`, which
    does not wait), so the fdatasync before the commit finds little left to do. At most two
    batches are ever in memory."""
    batch: list[bytes] = []
    batched = 0
    pending: asyncio.Future[tuple[Any, Any]] | None = None
    flushing: asyncio.Future[None] | None = None
    unflushed = 0
    try:
        while True:
            chunk = await read()
            if chunk:
                batch.append(chunk)
                batched += len(chunk)
                if batched < BATCH:
                    continue
            if pending is not None:
                await pending
                pending = None
            if batch:
                pending = asyncio.gather(run(upload.store_chunks, batch),
                                         run(upload.hash_chunks, batch))
                unflushed += batched
                batch, batched = [], 0
            if unflushed >= WRITEBACK and (flushing is None or flushing.done()):
                if flushing is not None:
                    await flushing  # re-raise its error, if any
                flushing = asyncio.ensure_future(run(upload.start_writeback))
                unflushed = 0
            if not chunk:
                break
        if pending is not None:
            await pending
            pending = None
    finally:
        # never let abort() close the file under a write or flush still running
        running = [f for f in (pending, flushing) if f is not None and not f.done()]
        if running:
            await asyncio.wait(running)
        if pending is not None and pending.done() and not pending.cancelled():
            pending.exception()  # retrieved: the first error is the one that propagates
    if flushing is not None:
        await flushing
