"""`rmail.heap`: what a server process does to its collector once started. Run in a child
interpreter, since freezing would otherwise keep this test process's objects forever."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

CHILD = """
import gc, weakref
from rmail.heap import freeze_startup_objects

class Node:
    pass

garbage = Node(); garbage.me = garbage          # a cycle nobody references
dead = weakref.ref(garbage); del garbage
kept = [Node() for _ in range(1000)]              # what a started server holds on to
frozen = freeze_startup_objects()
assert dead() is None, "startup garbage must be collected, not frozen"
assert frozen >= 1000, frozen
gc.collect()
walked = {id(o) for generation in range(3) for o in gc.get_objects(generation=generation)}
assert not walked & {id(n) for n in kept}, "frozen objects are not walked by collections"
print("ok", frozen)
"""


def test_freeze_collects_startup_garbage_and_freezes_the_rest() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, capture_output=True,
                         text=True, timeout=60, env={"PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")


# A large upload's pattern: many 256 KiB reads held as one batch, then all freed at once. With
# glibc's dynamic thresholds the freed batch at the top of the heap is trimmed and the next
# batch faults fresh pages in; with `keep_freed_memory` the second and later batches reuse it.
BATCHES = """
import os, resource, sys
from rmail.heap import keep_freed_memory

if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
    print("not glibc"); sys.exit(0)
keep = sys.argv[1] == "keep"
if keep:
    assert keep_freed_memory()

def batch():
    held = [bytearray(256 * 1024) for _ in range(32)]   # 8 MiB, every page written
    del held

batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    batch()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print("faults", faults)
"""


def _batch_faults(mode: str) -> int | None:
    out = subprocess.run([sys.executable, "-c", BATCHES, mode], cwd=REPO, capture_output=True,
                         text=True, timeout=60, env={"PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    if out.stdout.startswith("not glibc"):
        return None
    return int(out.stdout.split()[1])


def test_keep_freed_memory_reuses_a_freed_batch() -> None:
    kept = _batch_faults("keep")
    if kept is None:
        pytest.skip("mallopt tuning applies to glibc only")
    pages = 10 * 8 * 1024 * 1024 // 4096  # what ten batches write
    assert kept < pages // 20, f"{kept} page faults for {pages} pages written again"
    default = _batch_faults("default")
    assert default is not None and default > kept, (default, kept)
