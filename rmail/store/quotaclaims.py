"""Quota accounting shared by every process of one server, so deliveries racing through
several workers into a nearly full mailbox cannot overshoot its quota together.

Two things per user live here, in a fixed-size table of shared memory (a `memfd` the
supervisor creates before any worker starts; a single process uses a private anonymous one):

- ``drift``: bytes committed (appends, copies, minus expunges) by any process since the slot
  was assigned. A process caches a user's usage as (sum over the folder indexes, the drift
  when it started summing) and sees the others' commits as the drift grown since, at once,
  instead of after its cache expires.
- ``reserved``: bytes of appends in flight, one row per process (row 0: the supervisor or the
  single process; row N: worker N). `claim` checks ``usage + drift since + every row's
  reservations + nbytes <= quota`` and reserves, in one step under the table's lock.

Crash model: a worker's row is zeroed when it dies (the supervisor, before its replacement
starts), so a ``kill -9`` during a delivery frees its reservation. A process killed between a
commit and adding the drift leaves the others under-counting that message until their cache
expires (`rmail.store.mailbox.USAGE_TTL`); nothing is lost, the usage is recomputed from the
indexes. Writers outside the server (the CLI) show after the same expiry, as before.

Lock: a `threading.Lock` (store calls run on threads; record locks do not exclude threads of
one process) and, for the shared table, a ``lockf`` record lock over the block, which the
kernel drops with a dead holder. Held for a few probes and additions, never across I/O.

Layout (native byte order, version 1)::

    header    magic "RMQC", version, rows, slots           4 x uint32
    keys      slots x 16 bytes (blake2b of "domain/username")
    epochs    slots x uint64 (bumped when a slot is given to another user)
    drift     slots x int64
    reserved  rows x slots x int64
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from rmail.store.errors import QuotaExceeded

__all__ = ["Mark", "QuotaClaims", "Stale"]

MAGIC = b"RMQC"
VERSION = 1
HEADER = struct.Struct("=4sIII")
KEY_SIZE = 16
SLOTS = 2048
PROBE = 16


class Stale(Exception):
    """The user's slot was given to another user since the mark was taken: recompute."""


@dataclass(frozen=True)
class Mark:
    """Where a user's drift stood when its usage was summed."""

    slot: int
    epoch: int
    drift: int


def user_key(domain: str, username: str) -> bytes:
    return hashlib.blake2b(f"{domain}/{username}".encode(), digest_size=KEY_SIZE).digest()


class QuotaClaims:
    """One process's handle on the table; it reserves in row `row`."""

    def __init__(self, buf: mmap.mmap, fd: int | None, row: int) -> None:
        magic, version, rows, slots = HEADER.unpack_from(buf, 0)
        if magic != MAGIC or version != VERSION:
            raise ValueError(f"not a quota table (version {version})")
        if not 0 <= row < rows:
            raise ValueError(f"row {row} outside a table of {rows}")
        self.fd, self.row, self.rows, self.slots = fd, row, rows, slots
        self._map = buf
        self._keys_at = HEADER.size
        at = self._keys_at + slots * KEY_SIZE
        view = memoryview(buf)
        self._epochs = view[at:at + slots * 8].cast("Q")
        at += slots * 8
        self._drift = view[at:at + slots * 8].cast("q")
        at += slots * 8
        self._reserved = view[at:at + rows * slots * 8].cast("q")
        self._thread_lock = threading.Lock()

    @staticmethod
    def _size(rows: int, slots: int) -> int:
        return HEADER.size + slots * (KEY_SIZE + 16) + rows * slots * 8

    @classmethod
    def local(cls, slots: int = SLOTS) -> QuotaClaims:
        """A private table for a process that shares its store with no other server process
        (a single-process server, the CLI, tests)."""
        buf = mmap.mmap(-1, cls._size(1, slots))
        HEADER.pack_into(buf, 0, MAGIC, VERSION, 1, slots)
        return cls(buf, None, 0)

    @classmethod
    def create(cls, rows: int, slots: int = SLOTS) -> QuotaClaims:
        """A shared table with ``rows`` rows (the supervisor's handle reserves in row 0)."""
        fd = os.memfd_create("rmail-quota", os.MFD_CLOEXEC)
        try:
            size = cls._size(rows, slots)
            os.ftruncate(fd, size)
            os.pwrite(fd, HEADER.pack(MAGIC, VERSION, rows, slots), 0)
            return cls(mmap.mmap(fd, size, mmap.MAP_SHARED), fd, 0)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def attach(cls, fd: int, row: int) -> QuotaClaims:
        """A worker's handle over the inherited descriptor; its row starts empty."""
        size = os.fstat(fd).st_size
        table = cls(mmap.mmap(fd, size, mmap.MAP_SHARED), fd, row)
        table.clear_row(row)
        return table

    def close(self) -> None:
        for view in (self._epochs, self._drift, self._reserved):
            view.release()
        self._map.close()
        if self.fd is not None:
            os.close(self.fd)

    # -- locking ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            if self.fd is None:
                yield
                return
            fcntl.lockf(self.fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(self.fd, fcntl.LOCK_UN)

    def _reserved_total(self, slot: int) -> int:
        res, slots = self._reserved, self.slots
        return sum(res[r * slots + slot] for r in range(self.rows))

    def _find(self, key: bytes) -> tuple[int | None, int]:
        start = int.from_bytes(key[:4], "little") % (self.slots - PROBE + 1)
        base = self._keys_at
        hi = base + (start + PROBE) * KEY_SIZE
        at = self._map.find(key, base + start * KEY_SIZE, hi)
        while at >= 0:
            if (at - base) % KEY_SIZE == 0:
                return (at - base) // KEY_SIZE, start
            at = self._map.find(key, at + 1, hi)
        return None, start

    # -- the interface the mailbox uses ---------------------------------------------------------
    def mark(self, key: bytes) -> Mark | None:
        """The user's drift now (taken before summing the usage), assigning a slot if it has
        none; None when every slot near its key holds reservations (then nothing is shared
        and the caller counts what it can see)."""
        with self._locked():
            slot, start = self._find(key)
            if slot is None:
                window = range(start, start + PROBE)
                # a slot never used, else one whose user has no claim in flight
                slot = next((c for c in window if self._epochs[c] == 0), None)
                if slot is None:
                    slot = next((c for c in window if self._reserved_total(c) == 0), None)
                if slot is None:
                    return None
                at = self._keys_at + slot * KEY_SIZE
                self._map[at:at + KEY_SIZE] = key
                self._epochs[slot] += 1
                self._drift[slot] = 0
            return Mark(slot, self._epochs[slot], self._drift[slot])

    def drift_since(self, mark: Mark) -> int:
        """Bytes committed by every process since ``mark``; `Stale` when the slot changed."""
        with self._locked():
            if self._epochs[mark.slot] != mark.epoch:
                raise Stale()
            return self._drift[mark.slot] - mark.drift

    def claim(self, mark: Mark, summed: int, nbytes: int, quota_bytes: int) -> int:
        """Reserve ``nbytes`` for this process if the user's usage (``summed`` at ``mark``
        plus the drift since) and every process's reservations leave room; returns the slot
        to `release`. `QuotaExceeded` or `Stale`."""
        with self._locked():
            slot = mark.slot
            if self._epochs[slot] != mark.epoch:
                raise Stale()
            used = summed + self._drift[slot] - mark.drift + self._reserved_total(slot)
            if used + nbytes > quota_bytes:
                raise QuotaExceeded(f"quota of {quota_bytes} bytes exceeded")
            self._reserved[self.row * self.slots + slot] += nbytes
            return slot

    def release(self, slot: int, nbytes: int) -> None:
        with self._locked():
            i = self.row * self.slots + slot
            self._reserved[i] = max(0, self._reserved[i] - nbytes)

    def committed(self, key: bytes, delta: int) -> None:
        """Bytes a commit added (or, negative, freed) for the user, seen by every process."""
        if not delta:
            return
        with self._locked():
            slot, _ = self._find(key)
            if slot is not None:
                self._drift[slot] += delta

    def clear_row(self, row: int) -> None:
        """Drop every reservation of ``row`` (its process died or starts afresh)."""
        with self._locked():
            self._reserved[row * self.slots:(row + 1) * self.slots] = \
                memoryview(bytes(self.slots * 8)).cast("q")
