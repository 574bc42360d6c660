"""The group commit's leader/follower protocol (rmail.store.groupcommit.Committer), on a real
folder: every caller is answered exactly once, with its own UIDs, whatever the mix of single
appends, MULTIAPPENDs larger than one batch, and batches that fail."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rmail.store.groupcommit import MAX_BATCH
from rmail.store.mailbox import Folder
from tests.store.conftest import message, reopen


def _run(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a caller was never woken"


def test_concurrent_singles_and_multiappends_larger_than_a_batch(mail_root: Path,
                                                                 inbox: Folder) -> None:
    singles: dict[int, int] = {}
    multis: list[list[int]] = []
    errors: list[BaseException] = []

    def single(t: int) -> None:
        try:
            for i in range(25):
                singles[t * 1000 + i] = inbox.append(message(t * 1000 + i)).uid
        except BaseException as exc:
            errors.append(exc)

    def multi(t: int) -> None:
        try:
            for _ in range(2):
                batch = [(message(t * 1000 + i), (), None) for i in range(MAX_BATCH + 40)]
                multis.append([r.uid for r in inbox.append_many(batch)])
        except BaseException as exc:
            errors.append(exc)

    _run([threading.Thread(target=single, args=(t,)) for t in range(10)]
         + [threading.Thread(target=multi, args=(t,)) for t in (50, 60)])
    assert errors == []
    uids = list(singles.values()) + [u for m in multis for u in m]
    assert len(uids) == len(set(uids)) == 10 * 25 + 4 * (MAX_BATCH + 40)
    for m in multis:  # one caller's messages are placed one batch after the other
        assert m == list(range(m[0], m[0] + len(m)))
    again = reopen(mail_root, inbox)
    assert again.uids() == sorted(uids)
    for t in range(10):  # each caller got the UID of its own message
        i = 7
        assert f"message {t * 1000 + i}".encode() in again.read_message(singles[t * 1000 + i])


def test_a_failed_batch_fails_its_callers_only_and_the_queue_goes_on(
        mail_root: Path, inbox: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    place = inbox._place_batch
    failures = {"left": 3}
    gate = threading.Lock()

    def flaky(batch):  # type: ignore[no-untyped-def]
        with gate:
            fail = failures["left"] > 0
            failures["left"] -= 1
        if fail:
            raise OSError(28, "No space left on device")
        return place(batch)

    monkeypatch.setattr(inbox._committer, "_place_batch", flaky)
    ok: list[int] = []
    failed: list[int] = []

    def writer(t: int) -> None:
        for i in range(20):
            try:
                ok.append(inbox.append(message(t * 100 + i)).uid)
            except OSError:
                failed.append(t * 100 + i)

    _run([threading.Thread(target=writer, args=(t,)) for t in range(8)])
    assert failed and len(ok) + len(failed) == 160
    assert sorted(ok) == reopen(mail_root, inbox).uids()
    staging = inbox.owner.layout.staging_dir
    assert not any(staging.iterdir())  # no staged file of a failed batch is left behind
