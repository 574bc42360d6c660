"""Each folder's meta log: the parse of every message (envelope, body structure, summary:
`groupcommit.parse_meta`) as records appended to ONE file per folder, instead of one
`meta/{uid // 4096}/{uid}.json` file per message.

Why: creating a file is the dearest part of an append on this kind of disk. On the test VM's
ext4 (no journal) an append cost 1.5-2.5 ms instead of 0.5 once a test suite's deletes had
fragmented the inode tables, up to 55 % of it in file creation (`ext4_create`); with the meta
files switched off (a diagnostic) an append cost 0.47-0.49 ms against 0.59. Dovecot's Maildir
creates one file per message; with a meta file per message rmail created two. Appending a
record to a file that is already open costs one `pwrite`.

On disk (`meta.log` in the folder directory):

    {"version": 1, "uidvalidity": N}\\n
    <uid> <meta JSON>\\n        (one line per message, in any order; compact JSON has no newline)

The uid in front of each line lets a reader index the file without parsing any JSON, and lets
`get` check that the bytes at a remembered offset are the record it wants.

Crash model: a cache of the messages, like the meta files were. Never fsynced, never trusted
blindly: a missing file, another version or UIDVALIDITY, or an unreadable first line means
"start again" (the next writer replaces the file); a torn last line (a crash mid-append) is
ignored by readers and cut off by the next writer; a line that does not start with a uid (say
the zeros a crash can leave in an unsynced file) is skipped; a record whose bytes are not the
uid's valid JSON is treated as missing. A record missing is rebuilt from the message and
appended (`Folder.meta`); `rmail check` reports and repairs all of it.

Writers hold the folder's lock (`folder.lock`): a delivery appends its batch's records in one
write while it places the batch (`Folder._place_batch`), before the journal line, so anyone
who sees the new UID finds its meta. Readers take no lock: they follow appends by offset and
notice a rewrite by the inode.

Records are 1-3 KB and a folder may hold 100,000 messages, so the records are not kept in
memory: only uid -> (offset, length), in three arrays (about 20 bytes a message) plus a small
dict for records appended out of UID order, built by scanning what was appended since the last
look; `get` reads one record with `os.pread` (6 us). A process that only delivers never
builds it; the first read in a process scans the file once (100,000 records of 1.5 KB, 152 MB:
0.4 s at load 11 on the test VM), every later look only what was appended since.

Expunged messages' records stay until the garbage outweighs the live records and exceeds
MIN_GARBAGE; then the file is rewritten (temporary file and rename) with the live records
only. The check runs after each expunge (`Folder._tidy_meta_log`): that is when garbage
appears, so a folder nobody expunges from never pays for it, and the expunging process is
usually one that reads meta anyway (IMAP, webmail), so its map is loaded already. The estimate
is O(1) (record counts, the average record standing for all) and takes no lock; the rewrite
takes the folder lock and copies the live records' bytes in the kernel (`copy_file_range`):
about the size of the live records, once per doubling of the garbage, where compaction of the
index (which runs every 256 KiB of journal) would pay it far more often or need a scan of its
own to know.

Open descriptors: a log keeps its file open between uses (an IMAP FETCH reads one record per
message); at most a few dozen logs per process do (`rmail.store.heldfiles`), the least
recently used letting go.
"""

from __future__ import annotations

import contextlib
import os
import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from rmail.store import fsutil
from rmail.store.heldfiles import HeldFiles

FORMAT_VERSION = 1
MIN_GARBAGE = 1 << 20  # bytes of expunged records before a rewrite is worth it
_CHUNK = 1 << 20  # bytes read per pread when scanning
_MAX_PREFIX = 21  # a uid's digits and the space after them


def header_line(uidvalidity: int) -> bytes:
    return orjson.dumps({"version": FORMAT_VERSION, "uidvalidity": uidvalidity}) + b"\n"


def record_line(uid: int, meta: bytes) -> bytes:
    return b"%d %s\n" % (uid, meta)


@dataclass
class Inspection:
    """What `MetaLog.inspect` found (for `rmail check`)."""

    exists: bool = False
    foreign: bool = False  # another version or UIDVALIDITY, or an unreadable first line
    torn: int = 0  # bytes after the last complete line
    garbled: int = 0  # lines that do not start with a uid
    unknown: list[int] = field(default_factory=list)  # uids of no message the folder had
    unreadable: list[int] = field(default_factory=list)  # live uids whose record is bad (deep)
    have: set[int] = field(default_factory=set)  # uids with a record


# Each log holds one descriptor: with the usual soft limit of 1,024 a process keeps at most
# 32 logs open.
_OPEN: HeldFiles[MetaLog] = HeldFiles(lambda log: log._close(), most=64, share=32, least=4)


class MetaLog:
    """The meta log of one folder (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._mem = threading.Lock()
        # The map: which records the file at inode `_ino` holds, up to byte `_end`.
        self._ino = -1  # -1: nothing loaded
        self._uidvalidity: int | None = None
        self._foreign = False  # the file at `_ino` is not ours (header): no records
        self._end = 0
        self._uids = array("q")  # ascending
        self._offs = array("q")
        self._lens = array("q")
        self._late: dict[int, tuple[int, int]] = {}  # records appended out of UID order
        self._lines = 0  # lines scanned (records, duplicates and garbled ones)
        self._garbled = 0
        # What a writer knows of the file without having loaded the map.
        self._w_ino = -1  # the inode whose header a writer checked
        self._w_uidvalidity = -1  # and the UIDVALIDITY it has
        self._w_end = -1  # where that writer's last append ended
        self._fd = -1
        self._fd_ino = -1

    # -- descriptors ------------------------------------------------------------------------
    def _close(self) -> None:
        fd, self._fd, self._fd_ino = self._fd, -1, -1
        if fd >= 0:
            _OPEN.discard(self)
            with contextlib.suppress(OSError):
                os.close(fd)

    def _file(self, ino: int) -> int:
        """A descriptor of the file whose inode is `ino`, or -1 when the path holds another
        file now (`_mem` held)."""
        if self._fd >= 0 and self._fd_ino == ino:
            return self._fd
        self._close()
        fd = fsutil.open_inode(self.path, ino)
        if fd < 0:
            return -1
        self._fd, self._fd_ino = fd, ino
        _OPEN.add(self)
        return fd

    def __del__(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        """Let go of the file (a deleted folder)."""
        with self._mem:
            self._close()
            self._reset(-1, None)

    # -- the map ----------------------------------------------------------------------------
    def _reset(self, ino: int, uidvalidity: int | None) -> None:
        self._ino, self._uidvalidity, self._foreign, self._end = ino, uidvalidity, False, 0
        self._uids, self._offs, self._lens = array("q"), array("q"), array("q")
        self._late = {}
        self._lines = self._garbled = 0

    def _find(self, uid: int) -> tuple[int, int] | None:
        loc = self._late.get(uid)
        if loc is not None:
            return loc
        uids = self._uids
        i = bisect_left(uids, uid)
        if i < len(uids) and uids[i] == uid:
            return self._offs[i], self._lens[i]
        return None

    def _note(self, uid: int, offset: int, length: int) -> None:
        uids = self._uids
        if not uids or uid > uids[-1]:
            uids.append(uid)
            self._offs.append(offset)
            self._lens.append(length)
            self._late.pop(uid, None)
        else:
            self._late[uid] = (offset, length)
        self._lines += 1

    def _scan_lines(self, buf: bytes, base: int) -> int:
        """Note every complete line of `buf` (at file offset `base`); returns the bytes used."""
        find = buf.find
        note = self._note
        pos = 0
        while True:
            nl = find(b"\n", pos)
            if nl < 0:
                return pos
            sp = find(b" ", pos, min(nl, pos + _MAX_PREFIX))
            digits = buf[pos:sp] if sp > pos else b""
            if digits.isdigit() and digits[0] != 0x30:  # no sign, no leading zero
                note(int(digits), base + pos, nl + 1 - pos)
            else:
                self._lines += 1
                self._garbled += 1
            pos = nl + 1

    def _scan(self, fd: int) -> None:
        """Read what was appended since `_end` (complete lines only)."""
        buf = b""
        base = self._end
        while True:
            chunk = os.pread(fd, _CHUNK, base + len(buf))
            if not chunk:
                break
            buf = buf + chunk if buf else chunk
            used = self._scan_lines(buf, base)
            buf, base = buf[used:], base + used
        self._end = base

    def _refresh(self, uidvalidity: int) -> None:
        """Bring the map up to date with the file (`_mem` held)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._close()
            self._reset(-1, uidvalidity)
            return
        if st.st_ino == self._ino and self._uidvalidity == uidvalidity:
            if self._foreign or st.st_size == self._end:
                return
            if st.st_size > self._end:
                fd = self._file(st.st_ino)
                if fd >= 0:
                    self._scan(fd)
                    return
        self._load(uidvalidity)

    def _load(self, uidvalidity: int) -> None:
        self._reset(-1, uidvalidity)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        fd = self._file(st.st_ino)
        if fd < 0:
            return
        head = header_line(uidvalidity)
        self._ino = st.st_ino
        if os.pread(fd, len(head), 0) != head:
            self._foreign = True  # the next writer starts the file again
            return
        self._end = len(head)
        self._scan(fd)

    def _read(self, uid: int, loc: tuple[int, int]) -> bytes | None:
        """The meta JSON of `uid`'s record at `loc` in the mapped file, or None when the bytes
        there are not a record of `uid` (`_mem` held)."""
        fd = self._file(self._ino)
        if fd < 0:
            return None
        data = os.pread(fd, loc[1], loc[0])
        prefix = b"%d " % uid
        if not (data.startswith(prefix) and data.endswith(b"\n")) or len(data) != loc[1]:
            return None
        return data[len(prefix):-1]

    # -- reading ----------------------------------------------------------------------------
    def get(self, uid: int, uidvalidity: int) -> bytes | None:
        """The meta JSON bytes of message `uid` as recorded (not yet parsed: the caller
        checks them), or None when the log has no record of it. Runs in a worker thread."""
        with self._mem:
            if self._uidvalidity == uidvalidity and self._ino >= 0:
                loc = self._find(uid)
                if loc is not None:
                    data = self._read(uid, loc)
                    if data is not None:
                        return data
            self._refresh(uidvalidity)  # appended by another writer, or the file was replaced
            loc = self._find(uid)
            return self._read(uid, loc) if loc is not None else None

    # -- writing ----------------------------------------------------------------------------
    def append_locked(self, items: Iterable[tuple[int, bytes | None]], uidvalidity: int) -> None:
        """Append the records of `items` (uid, meta JSON; None skipped) in one write, without
        fsync. The caller holds the folder lock."""
        lines = [(uid, record_line(uid, meta)) for uid, meta in items if meta]
        if not lines:
            return
        data = b"".join(line for _, line in lines)
        with self._mem:
            fd, end = self._writable(uidvalidity)
            if fd < 0:
                return  # the folder is being deleted
            fsutil.pwrite_all(fd, data, end)
            self._w_end = end + len(data)
            if (self._ino, self._uidvalidity, self._end) == (self._w_ino, uidvalidity, end) \
                    and not self._foreign:
                for uid, line in lines:  # the map is loaded and reaches our append: extend it
                    self._note(uid, end, len(line))
                    end += len(line)
                self._end = end

    def _writable(self, uidvalidity: int) -> tuple[int, int]:
        """(descriptor, offset to append at) of a file of ours, started afresh if missing or
        not ours, a torn tail cut off (`_mem` and the folder lock held)."""
        head = header_line(uidvalidity)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self._start(uidvalidity)
        fd = self._file(st.st_ino)
        if fd < 0:
            return self._start(uidvalidity)
        if (self._w_ino, self._w_uidvalidity) != (st.st_ino, uidvalidity):
            if st.st_size < len(head) or os.pread(fd, len(head), 0) != head:
                return self._start(uidvalidity)
            self._w_ino, self._w_uidvalidity, self._w_end = st.st_ino, uidvalidity, -1
        end = st.st_size
        if end != self._w_end:  # another process wrote since our last append
            end = fsutil.cut_torn_line(fd, end, len(head))
        return fd, end

    def _start(self, uidvalidity: int) -> tuple[int, int]:
        """Replace the file by one holding only the header (temporary file and rename, so a
        reader of the old one notices by the inode)."""
        head = header_line(uidvalidity)
        try:
            fsutil.atomic_write(self.path, head, durable=False)
        except FileNotFoundError:  # the folder directory is gone
            return -1, 0
        self._close()
        st = os.stat(self.path)
        fd = self._file(st.st_ino)
        self._w_ino, self._w_uidvalidity, self._w_end = st.st_ino, uidvalidity, len(head)
        self._reset(-1, uidvalidity)  # a reader loads it when it needs it
        return fd, len(head)

    # -- rewriting --------------------------------------------------------------------------
    def wants_rewrite(self, live: int, uidvalidity: int) -> bool:
        """Whether expunged messages' records outweigh the `live` ones and exceed MIN_GARBAGE
        (estimated from record counts). Loads the map if needed; takes no folder lock."""
        with self._mem:
            self._refresh(uidvalidity)
            lines = self._lines
            if self._ino < 0 or self._foreign or lines <= 2 * live:
                return False
            body = self._end - len(header_line(uidvalidity))
            return body * (lines - live) > MIN_GARBAGE * lines

    def rewrite_locked(self, live: Sequence[int], uidvalidity: int,
                       skip: Iterable[int] = ()) -> None:
        """Replace the file by one holding the records of `live` only (those of `skip` left
        out): temporary file and rename, unsynced. The caller holds the folder lock."""
        skipped = set(skip)
        head = header_line(uidvalidity)
        with self._mem:
            self._refresh(uidvalidity)
            src = self._file(self._ino) if self._ino >= 0 and not self._foreign else -1
            runs: list[list[int]] = []  # [source offset, length] of contiguous records
            uids, offs, lens = array("q"), array("q"), array("q")
            end = len(head)
            for uid in sorted(live):
                loc = self._find(uid) if src >= 0 and uid not in skipped else None
                if loc is None:
                    continue
                if runs and runs[-1][0] + runs[-1][1] == loc[0]:
                    runs[-1][1] += loc[1]
                else:
                    runs.append([loc[0], loc[1]])
                uids.append(uid)
                offs.append(end)
                lens.append(loc[1])
                end += loc[1]
            tmp = str(fsutil.tmp_name(Path(self.path)))
            try:
                out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:
                return  # the folder is being deleted
            try:
                fsutil.write_all(out, head)
                pos = len(head)
                for off, length in runs:
                    _copy(src, out, off, length, pos)
                    pos += length
                os.close(out)
                out = -1
                os.replace(tmp, self.path)
            except BaseException:
                if out >= 0:
                    os.close(out)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            self._close()
            ino = os.stat(self.path).st_ino
            self._reset(ino, uidvalidity)
            self._uids, self._offs, self._lens, self._end = uids, offs, lens, end
            self._lines = len(uids)
            self._w_ino, self._w_uidvalidity, self._w_end = ino, uidvalidity, end

    # -- checking ---------------------------------------------------------------------------
    def inspect(self, uidvalidity: int, live: Sequence[int], uidnext: int, *,
                deep: bool) -> Inspection:
        """Read the whole file afresh and say what is wrong with it (`rmail check`)."""
        found = Inspection()
        with self._mem:
            self._close()
            self._load(uidvalidity)
            if self._ino < 0:
                return found
            found.exists = True
            if self._foreign:
                found.foreign = True
                return found
            found.torn = max(0, os.fstat(self._file(self._ino)).st_size - self._end)
            found.garbled = self._garbled
            mapped = set(self._uids) | set(self._late)
            found.unknown = sorted(u for u in mapped if u >= uidnext)
            for uid in live:
                loc = self._find(uid)
                if loc is None:
                    continue
                if deep:
                    data = self._read(uid, loc)
                    try:
                        ok = data is not None and isinstance(orjson.loads(data), dict)
                    except orjson.JSONDecodeError:
                        ok = False
                    if not ok:
                        found.unreadable.append(uid)
                        continue
                found.have.add(uid)
        return found

    def size(self) -> int:
        """Lines the map has seen (live, expunged, duplicate and garbled records)."""
        return self._lines


def _copy(src: int, dst: int, offset: int, length: int, at: int) -> None:
    """Copy `length` bytes at `offset` of `src` to `at` of `dst`, in the kernel if it can."""
    while length > 0:
        try:
            n = os.copy_file_range(src, dst, length, offset, at)
        except OSError:
            n = 0
        if n <= 0:  # not supported here (or a short file): by hand
            data = os.pread(src, min(length, _CHUNK), offset)
            if not data:
                raise OSError(f"meta log shorter than its map at {offset}")
            n = os.pwrite(dst, data, at)
        offset, at, length = offset + n, at + n, length - n
