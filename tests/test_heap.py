"""`rmail.heap`: what a server process does to its collector once started. Run in a child
interpreter, since freezing would otherwise keep this test process's objects forever."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
