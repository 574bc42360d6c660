"""Benchmarks (see bench/README.md). Shared setting: how many worker processes the rmail under
test runs, from ``RMAIL_BENCH_WORKERS`` (``1`` or ``auto``, the default), so every script can be
run once per setting and the two figures printed side by side."""

from __future__ import annotations

import os

__all__ = ["workers"]


def workers() -> int | str:
    """The ``workers`` value for the config of the rmail under test."""
    value = os.environ.get("RMAIL_BENCH_WORKERS", "auto").strip()
    return "auto" if value == "auto" else int(value)
