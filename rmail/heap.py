"""Keep the garbage collector off the objects a server process makes while it starts.

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


def freeze_startup_objects() -> int:
    """Collect the garbage startup left, then freeze what survives; returns how many
    objects are now frozen (for the log)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
