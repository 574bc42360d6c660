"""`Folder.read_index`: a consistent multi-column read of the index under the folder's lock."""

from __future__ import annotations

import threading

from rmail.store.mailbox import Folder
from tests.store.conftest import message


def test_read_index_sees_current_state(inbox: Folder) -> None:
    inbox.append(message(1))
    inbox.append(message(2), flags=["\\Seen"])
    uids, flags = inbox.read_index(lambda idx: (idx.uids.tolist(),
                                                [idx.flags_of(i) for i in range(len(idx))]))
    assert uids == [1, 2]
    assert flags == [(), ("\\Seen",)]


def test_read_index_columns_agree_under_concurrent_writes(inbox: Folder) -> None:
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            res = inbox.append(message(n))
            if n % 3 == 0:
                inbox.expunge([res.uid])

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(200):
            lengths = inbox.read_index(lambda idx: {len(idx.uids), len(idx.modseqs),
                                                    len(idx.flag_ids), len(idx.sizes)})
            assert len(lengths) == 1
    finally:
        stop.set()
        t.join()
