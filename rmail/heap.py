"""What a server process does to its heap once it has started: keep the garbage collector off
the objects made while starting (`freeze_startup_objects`), and keep freed memory for reuse
instead of handing it back to the kernel after every large request (`keep_freed_memory`).


Why: a started worker holds on the order of 150,000 objects from imports, configuration,
templates and services, and they live as long as the process. CPython's full collections walk
every tracked object, so each one cost the event loop about 100 ms here (the slow outliers of
the update streams' fan-out in issue 18) and the young collections' share of a delivery's CPU
grew with them. `gc.freeze()` after start moves those objects to a permanent generation that
collections skip, so a full collection walks only what was made since.

Only process entry points call this (`rmail serve` and each worker): a library user or a test
process starting servers in-process keeps its own collector untouched.
"""

from __future__ import annotations

import gc
import os

# glibc's mallopt(3) parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 16 * 1024 * 1024   # free memory at the top of the heap kept for reuse
MMAP_THRESHOLD = 32 * 1024 * 1024   # allocations from their own mapping (glibc's dynamic maximum)


def freeze_startup_objects() -> int:
    """Collect the garbage startup left, then freeze what survives; returns how many
    objects are now frozen (for the log)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def keep_freed_memory() -> bool:
    """Stop glibc from returning the heap's top to the kernel whenever more than about 512 KiB
    of it is free; keep up to `TRIM_THRESHOLD` for the next request. Returns whether it applied
    (glibc only; elsewhere the allocator keeps its defaults).

    Why: a drive upload passes through the heap in batches of 4 MiB (aiohttp's 256 KiB reads,
    the batch handed to the writer and hasher threads). With glibc's dynamic thresholds every
    freed batch was trimmed away (`brk`) and faulted back in for the next, about 100 page
    faults per MB uploaded, each a fresh zeroed page (on this VM, memory the guest may first
    have to get back from the host). With the top kept, an upload after the first faults
    nothing. Setting the trim threshold turns off glibc's dynamic mmap threshold, so it is set
    too, at the value the dynamic one may grow to: allocations under 32 MiB stay in the heap
    as they could before. Cost: a process keeps up to `TRIM_THRESHOLD` more resident after a
    burst of large requests."""
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
    except (AttributeError, ValueError, OSError):  # not Linux, or not glibc
        return False
    import ctypes  # here: only server processes need it

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
