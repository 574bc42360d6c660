"""The threads that sync a commit wave (`groupcommit.SyncCrew`): every call runs, at once with
the caller's own, a failure reaches the caller only after every call of the wave is done (they
use descriptors the caller closes next), and a forked child gets threads of its own."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from rmail.store.groupcommit import SyncCrew
from rmail.store.mailbox import Folder

from .conftest import message, reopen


def test_every_call_runs_beside_the_callers_own() -> None:
    crew = SyncCrew(4)
    barrier = threading.Barrier(5, timeout=10)  # four crew calls and ours meet: all at once
    seen: list[int] = []

    def call(n: int) -> None:
        barrier.wait()
        seen.append(n)

    crew.run([(call, n) for n in range(4)], call, 99)
    assert sorted(seen) == [0, 1, 2, 3, 99]
    crew.close()


def test_a_failure_is_raised_after_the_whole_wave() -> None:
    crew = SyncCrew(2)
    finished: list[str] = []
    release = threading.Event()

    def fails(_: object) -> None:
        raise OSError("EIO")

    def slow(_: object) -> None:
        release.wait(10)
        finished.append("slow")

    def own(_: object) -> None:
        release.set()

    with pytest.raises(OSError, match="EIO"):
        crew.run([(fails, None), (slow, None)], own, None)
    assert finished == ["slow"]  # not abandoned while it might still use a descriptor
    crew.run([], own, None)  # a wave with nothing for the crew runs on the caller alone
    crew.close()


def test_callers_own_failure_still_waits_for_the_crew() -> None:
    crew = SyncCrew(1)
    finished: list[str] = []

    def slow(_: object) -> None:
        threading.Event().wait(0.05)
        finished.append("slow")

    def own(_: object) -> None:
        raise OSError("journal")

    with pytest.raises(OSError, match="journal"):
        crew.run([(slow, None)], own, None)
    assert finished == ["slow"]
    crew.close()


def test_a_closed_crew_refuses_work() -> None:
    crew = SyncCrew(2, name="crew-under-test")
    crew.run([(lambda _: None, None)], lambda _: None, None)
    started = [t for t in threading.enumerate() if t.name.startswith("crew-under-test")]
    assert len(started) == 2
    crew.close()
    assert not [t for t in started if t.is_alive()]
    with pytest.raises(RuntimeError):
        crew.run([(lambda _: None, None)], lambda _: None, None)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_appends_with_threads_of_its_own(inbox: Folder, mail_root: Path) -> None:
    inbox.append(message(1))  # the crew's threads now run in this process
    pid = os.fork()
    if pid == 0:  # the child inherits the store and the crew object, not its threads
        code = 1
        try:
            code = 0 if inbox.append(message(2)).uid == 2 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert reopen(mail_root, inbox).uids() == [1, 2]
