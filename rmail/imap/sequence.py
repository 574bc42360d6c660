"""Sequence sets (RFC 3501 §9 `sequence-set`, RFC 5182 `$`) and their rendering.

A parsed set keeps "*" as STAR; it becomes a number only against a mailbox view: the message
count for sequence numbers, the highest UID for UID sets.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

STAR = 0  # never a valid nz-number, so it can stand for "*"
MAX_NUMBER = 0xFFFFFFFF


class SequenceError(ValueError):
    """A sequence number beyond the mailbox (RFC 3501 §6.4.8 wants BAD)."""


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """Inclusive ranges as written (`b` may be below `a`); `saved` is the `$` of SEARCHRES."""

    ranges: tuple[tuple[int, int], ...] = ()
    saved: bool = False

    def __str__(self) -> str:
        if self.saved:
            return "$"
        return ",".join(_fmt(a) if a == b else f"{_fmt(a)}:{_fmt(b)}" for a, b in self.ranges)

    def positions(self, count: int) -> list[int]:
        """0-based positions named by this set of sequence numbers, sorted and unique."""
        spans = []
        for a, b in self.ranges:
            lo, hi = (count if a == STAR else a), (count if b == STAR else b)
            lo, hi = min(lo, hi), max(lo, hi)
            if count == 0 and STAR in (a, b) and lo == 0:
                continue  # "*" of an empty mailbox names nothing
            if hi > count or lo < 1:
                raise SequenceError(f"message sequence number {hi} does not exist")
            spans.append((lo - 1, hi))
        return _merge(spans)

    def uid_positions(self, uids: Sequence[int]) -> list[int]:
        """0-based positions in the sorted `uids` of the UIDs this set names (UIDs that don't
        exist are skipped; "*" is the highest UID, so `n:*` always includes it)."""
        if not uids:
            return []
        top = uids[-1]
        spans = []
        for a, b in self.ranges:
            lo, hi = (top if a == STAR else a), (top if b == STAR else b)
            lo, hi = min(lo, hi), max(lo, hi)
            spans.append((bisect_left(uids, lo), bisect_right(uids, hi)))
        return _merge(spans)

    def contains_uid(self, uid: int, top: int) -> bool:
        for a, b in self.ranges:
            lo, hi = (top if a == STAR else a), (top if b == STAR else b)
            if min(lo, hi) <= uid <= max(lo, hi):
                return True
        return False


def _fmt(n: int) -> str:
    return "*" if n == STAR else str(n)


def _merge(spans: list[tuple[int, int]]) -> list[int]:
    if len(spans) == 1:
        lo, hi = spans[0]
        return list(range(lo, hi))
    spans.sort()
    out: list[int] = []
    end = -1
    for lo, hi in spans:
        lo = max(lo, end)
        if lo < hi:
            out.extend(range(lo, hi))
            end = hi
    return out


def compress(numbers: Iterable[int]) -> str:
    """Sorted-or-not numbers -> "1:3,7,9:10" (empty string for none)."""
    out: list[str] = []
    start = prev = -2
    for n in sorted(set(numbers)):
        if n == prev + 1:
            prev = n
            continue
        if start >= 0:
            out.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = n
    if start >= 0:
        out.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(out)


def compress_ordered(numbers: Sequence[int]) -> str:
    """Numbers in the given order, runs of +1 joined (COPYUID pairs must keep their order)."""
    out: list[str] = []
    i, n = 0, len(numbers)
    while i < n:
        j = i
        while j + 1 < n and numbers[j + 1] == numbers[j] + 1:
            j += 1
        out.append(str(numbers[i]) if i == j else f"{numbers[i]}:{numbers[j]}")
        i = j + 1
    return ",".join(out)
