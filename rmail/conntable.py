"""Open connections per client address, counted across every process of one server, so a
listener's ``max_connections_per_ip`` caps an address once for the whole server and not once
per worker.

The table is a fixed-size block of shared memory (a `memfd`) that the server creates before
any worker starts (the supervisor, or the single process itself) and hands to each worker as
an inherited descriptor. Layout (native byte order, version 2)::

    header   magic "RMCT", version, rows, slots, 16-byte hash key
    keys     slots x 20 bytes: crc32(scope) + IPv6 address  (IPv4 as ::ffff:a.b.c.d)
    counts   rows x slots x uint32                          row r = worker r+1's connections

Each worker adds and removes only in its own row; an address's count is the sum over the rows.
That is what makes the table right under ``kill -9``: the supervisor zeroes a dead worker's
row before starting its replacement, which releases every connection that worker held (its
clients' sockets died with it).

Lock: one POSIX record lock (``lockf``) over the whole block, held only for the few
microseconds of a check-and-increment or a release, never across an ``await``. Record locks
belong to the process and the kernel drops them when it dies, so a worker killed while holding
the lock cannot wedge the others (a `multiprocessing.Lock` would stay taken).

Placement: a key lives within `PROBE` slots of its hash, a keyed BLAKE2b with a key drawn when
the table is made (so a client cannot pick addresses that all land in one window); a slot
whose counts are all zero is free for another key (rows of departed addresses are reused, never
moved). `default_slots` sizes the table at twice the descriptors every worker could hold, so
it cannot fill with live connections before the processes run out of descriptors. Should a
window still be full of live addresses, the connection is refused like one over its cap (the
listener answers with its temporary error and closes): the cap protects the server, and
admitting uncounted would let a flood of distinct addresses open unlimited connections each.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import logging
import mmap
import os
import resource
import struct
import time
import zlib
from dataclasses import dataclass

__all__ = ["PROBE", "ConnectionTable", "Slot", "default_slots"]

log = logging.getLogger(__name__)

MAGIC = b"RMCT"
VERSION = 2
HEADER = struct.Struct("=4sIII16s")
KEY_SIZE = 20
MIN_SLOTS = 4096
MAX_SLOTS = 1 << 18  # 5 MiB of keys and 1 MiB of counts per row, touched only where used
PROBE = 64
WARN_EVERY = 60.0  # seconds between two "table full" warnings of one process


def default_slots(rows: int) -> int:
    """Twice the descriptors ``rows`` processes may hold (their soft ``RLIMIT_NOFILE``), as a
    power of two within [`MIN_SLOTS`, `MAX_SLOTS`]: every counted connection is an open
    socket, so the live addresses fill at most half the table."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * rows * (soft if soft != resource.RLIM_INFINITY else MAX_SLOTS)
    slots = MIN_SLOTS
    while slots < want and slots < MAX_SLOTS:
        slots *= 2
    return slots


@dataclass(frozen=True)
class Slot:
    """An admitted connection's place in the table (None for a trusted address, never counted)."""

    index: int | None


def _key(scope: str, ip: str) -> bytes:
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:  # not an address (a Unix socket, say): count it under its text
        packed = zlib.crc32(ip.encode("utf-8", "replace")).to_bytes(4, "big") + bytes(12)
    else:
        if isinstance(addr, ipaddress.IPv4Address):
            addr = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + addr.packed)
        packed = addr.packed
    return zlib.crc32(scope.encode()).to_bytes(4, "big") + packed


class ConnectionTable:
    """One process's handle on the shared table; `row` is the row it counts in."""

    def __init__(self, fd: int, row: int, *, owner: bool) -> None:
        self.fd = fd
        self.row = row
        self.owner = owner
        size = os.fstat(fd).st_size
        self._map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        magic, version, rows, slots, self._hash_key = HEADER.unpack_from(self._map, 0)
        if magic != MAGIC or version != VERSION:
            self._map.close()
            raise ValueError(f"not a connection table (version {version})")
        self.rows, self.slots = rows, slots
        self.window = min(PROBE, slots)
        self._warned = 0.0
        if not 0 <= row < rows:
            self._map.close()
            raise ValueError(f"row {row} outside a table of {rows}")
        self._keys_at = HEADER.size
        counts_at = self._keys_at + slots * KEY_SIZE
        self._counts = memoryview(self._map)[counts_at:counts_at + rows * slots * 4].cast("I")

    # -- life ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, rows: int, slots: int | None = None) -> ConnectionTable:
        """A new zeroed table with ``rows`` rows (one per worker) and ``slots`` addresses
        (`default_slots` when None); this handle counts in row 0. The descriptor is
        inheritable by `pass_fds` (memfd, no path on disk)."""
        slots = default_slots(rows) if slots is None else slots
        if slots < 1:
            raise ValueError("a connection table needs at least one slot")
        fd = os.memfd_create("rmail-connections", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, HEADER.size + slots * KEY_SIZE + rows * slots * 4)
            os.pwrite(fd, HEADER.pack(MAGIC, VERSION, rows, slots, os.urandom(16)), 0)
            return cls(fd, 0, owner=True)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def attach(cls, fd: int, row: int) -> ConnectionTable:
        """A worker's handle over the descriptor it inherited; its row starts empty (a
        predecessor's connections died with it)."""
        table = cls(fd, row, owner=False)
        table.clear_row(row)
        return table

    def close(self) -> None:
        self._counts.release()
        self._map.close()
        os.close(self.fd)

    # -- counting -----------------------------------------------------------------------------
    def _lock(self) -> None:
        fcntl.lockf(self.fd, fcntl.LOCK_EX)

    def _unlock(self) -> None:
        fcntl.lockf(self.fd, fcntl.LOCK_UN)

    def _total(self, slot: int) -> int:
        counts, slots = self._counts, self.slots
        return sum(counts[r * slots + slot] for r in range(self.rows))

    def _find(self, key: bytes) -> tuple[int | None, int]:
        """(slot holding ``key`` or None, first slot of its probe window)."""
        digest = hashlib.blake2b(key, digest_size=8, key=self._hash_key).digest()
        start = int.from_bytes(digest, "little") % (self.slots - self.window + 1)
        base = self._keys_at
        lo, hi = base + start * KEY_SIZE, base + (start + self.window) * KEY_SIZE
        at = self._map.find(key, lo, hi)
        while at >= 0:
            if (at - base) % KEY_SIZE == 0:
                return (at - base) // KEY_SIZE, start
            at = self._map.find(key, at + 1, hi)
        return None, start

    def admit(self, scope: str, ip: str, limit: int) -> Slot | None:
        """Count a connection from ``ip`` on ``scope`` (a listener name) unless the address
        already holds ``limit`` across all rows, or is new and its window of the table is
        full of live addresses; None when refused."""
        key = _key(scope, ip)
        self._lock()
        try:
            slot, start = self._find(key)
            if slot is None:
                for candidate in range(start, start + self.window):
                    if self._total(candidate) == 0:
                        slot = candidate
                        at = self._keys_at + slot * KEY_SIZE
                        self._map[at:at + KEY_SIZE] = key
                        break
                else:
                    self._warn_full(scope, ip)
                    return None
            elif self._total(slot) >= limit:
                return None
            self._counts[self.row * self.slots + slot] += 1
            return Slot(slot)
        finally:
            self._unlock()

    def _warn_full(self, scope: str, ip: str) -> None:
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY or not self._warned:
            self._warned = now
            log.warning("%s: connection table full (%d addresses) near %s; refusing new "
                        "addresses until connections end", scope, self.slots, ip)

    def release(self, held: Slot) -> None:
        """Give back a connection `admit` counted (in this process's row)."""
        if held.index is None:
            return
        i = self.row * self.slots + held.index
        self._lock()
        try:
            if self._counts[i] > 0:
                self._counts[i] -= 1
        finally:
            self._unlock()

    def count(self, scope: str, ip: str) -> int:
        """Connections ``ip`` holds on ``scope`` across all rows."""
        slot, _ = self._find(_key(scope, ip))
        return 0 if slot is None else self._total(slot)

    def clear_row(self, row: int) -> None:
        """Forget every connection counted in ``row`` (its worker died, or starts afresh)."""
        self._lock()
        try:
            self._counts[row * self.slots:(row + 1) * self.slots] = \
                memoryview(bytes(self.slots * 4)).cast("I")
        finally:
            self._unlock()
