"""A cap on the objects of this process that keep files open between uses (folders' pinned
index files, meta logs): past the cap the least recently used lets go, so thousands of
folders cannot exhaust the descriptors that connections need.

A holder has a `_mem` lock guarding its descriptors and a method that closes them with `_mem`
held. The registry keeps weak references (a holder nobody uses is collected, and its own
`__del__` closes its files without taking any lock: a collection can run inside `add`, on the
thread that holds the registry's lock) and never waits for a victim's `_mem`: a busy victim
keeps its files until the next `add`.
"""

from __future__ import annotations

import os
import resource
import threading
import weakref
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["HeldFiles"]


class _Holder(Protocol):
    _mem: threading.Lock


H = TypeVar("H", bound=_Holder)


class HeldFiles(Generic[H]):
    """The holders of one kind in this process, oldest use first, at most `limit`."""

    def __init__(self, release: Callable[[H], None], *, most: int, share: int,
                 least: int) -> None:
        """`release(holder)` closes a holder's files (its `_mem` held). The limit is `most`,
        or `1/share` of the soft descriptor limit when that is smaller, but at least
        `least`."""
        self._release = release
        self.limit = most
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if 0 < soft != resource.RLIM_INFINITY:
            self.limit = max(least, min(most, soft // share))
        self._lock = threading.Lock()
        self._order: dict[int, weakref.ref[H]] = {}  # id -> holder, oldest first
        os.register_at_fork(after_in_child=self._reset)

    def add(self, holder: H) -> None:
        """`holder` (its `_mem` held) has just opened its files, or used them again."""
        with self._lock:
            self._order.pop(id(holder), None)
            self._order[id(holder)] = weakref.ref(holder)
            over = len(self._order) - self.limit
            victims = list(self._order.items())[:over] if over > 0 else []
        for key, ref in victims:
            victim = ref()
            if victim is None:
                with self._lock:
                    if self._order.get(key) is ref:
                        del self._order[key]
            elif victim is not holder and victim._mem.acquire(blocking=False):
                try:  # never wait for another holder's lock while the caller holds its own
                    self._release(victim)
                finally:
                    victim._mem.release()

    def discard(self, holder: H) -> None:
        """`holder` closed its files."""
        with self._lock:
            self._order.pop(id(holder), None)

    def _reset(self) -> None:
        """In a forked child: the parent's lock may have been held by a thread that is gone."""
        self._lock = threading.Lock()
