"""kill -9 while writing: every PUT the store acknowledged is there afterwards, byte for byte,
and the calendar opens cleanly (torn journal tail ignored, orphan files harmless)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rmail.store.calendars import CalendarStore
from tests.caldav.conftest import event

WRITER = """
import sys
sys.path.insert(0, {repo!r})
from rmail.store.calendars import CalendarStore
home = CalendarStore({root!r}).home("example.com", "alice")
home.ensure_defaults()
coll = home.get("default")
i = 0
while True:
    name = f"e{{i}}.ics"
    body = {event!r}.replace("UID:x", f"UID:x{{i}}").encode()
    home.put_object("default", name, body)
    if i % 3 == 2:
        coll.delete(f"e{{i - 1}}.ics")
        print("del", i - 1, flush=True)
    print("put", i, flush=True)
    i += 1
"""


def test_kill_9_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    repo = str(Path(__file__).resolve().parents[2])
    code = WRITER.format(repo=repo, root=str(tmp_path), event=event("x"))
    acked: dict[int, bool] = {}
    for _round in range(3):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        for seen, line in enumerate(proc.stdout, 1):
            kind, num = line.split()
            acked[int(num)] = kind == "put"
            if seen >= 40 or time.monotonic() > deadline:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        home = CalendarStore(tmp_path).home("example.com", "alice")
        index = home.get("default").index()  # opens cleanly
        for num, present in acked.items():
            name = f"e{num}.ics"
            if present:
                assert name in index.objects, name
                assert home.get("default").read(name) == \
                    event("x").replace("UID:x", f"UID:x{num}").encode()
            else:
                assert name not in index.objects, name
        # the next run restarts numbering: start from a clean calendar each round
        home.delete("default")
        home.create_calendar("default")
        acked.clear()
