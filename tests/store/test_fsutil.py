"""fsutil: atomic and durable writes, versioned JSON, the name gate, and locks across threads,
coroutines and processes."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rmail.store import fsutil
from rmail.store.errors import CorruptStore, UnsafeName

# -- writes --------------------------------------------------------------------------------------


def no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "doc"
    fsutil.atomic_write(target, b"old")
    fsutil.atomic_write(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert no_temp_files(tmp_path)


def test_atomic_write_error_keeps_old_content_and_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "doc"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        fsutil.atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert no_temp_files(tmp_path)


def test_atomic_write_not_durable_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "cache"
    fsutil.atomic_write(target, b"x" * 100_000, durable=False, mode=0o600)
    assert target.read_bytes() == b"x" * 100_000
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert no_temp_files(tmp_path)


def test_tmp_name_is_beside_target_and_refused_as_a_name(tmp_path: Path) -> None:
    tmp = fsutil.tmp_name(tmp_path / "doc.json")
    assert tmp.parent == tmp_path
    assert tmp.name.startswith(".doc.json.")
    with pytest.raises(UnsafeName):
        fsutil.check_component(tmp.name)


def test_write_new_file_refuses_existing(tmp_path: Path) -> None:
    target = tmp_path / "1.eml"
    fsutil.write_new_file(target, b"first")
    with pytest.raises(FileExistsError):
        fsutil.write_new_file(target, b"second")
    assert target.read_bytes() == b"first"


def test_append_durable_returns_size(tmp_path: Path) -> None:
    target = tmp_path / "journal"
    assert fsutil.append_durable(target, b"one\n") == 4
    assert fsutil.append_durable(target, b"two\n") == 8
    assert target.read_bytes() == b"one\ntwo\n"


def test_json_round_trip_is_compact_and_sorted(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    fsutil.write_json(target, {"b": "ü", "a": [1, 2], "version": 1})
    assert target.read_bytes() == '{"a":[1,2],"b":"ü","version":1}'.encode()
    assert fsutil.read_json(target, version=1) == {"a": [1, 2], "b": "ü", "version": 1}


@pytest.mark.parametrize("content", [b'{"version": 3}', b'{"version": "1"}', b'{"version": null}'])
def test_read_json_newer_or_odd_version_is_corrupt(tmp_path: Path, content: bytes) -> None:
    target = tmp_path / "doc.json"
    target.write_bytes(content)
    with pytest.raises(CorruptStore):
        fsutil.read_json(target, version=2)


def test_read_json_missing_version_means_1(tmp_path: Path) -> None:
    target = tmp_path / "doc.json"
    target.write_bytes(b'{"a": 1}')
    assert fsutil.read_json(target, version=1) == {"a": 1}


@pytest.mark.parametrize("content", [b"", b'{"a": ', b"\xff\xfe"])
def test_read_json_broken_is_corrupt(tmp_path: Path, content: bytes) -> None:
    target = tmp_path / "doc.json"
    target.write_bytes(content)
    with pytest.raises(CorruptStore):
        fsutil.read_json(target)


def test_read_json_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fsutil.read_json(tmp_path / "nope.json")


def test_ensure_dir_reports_creation(tmp_path: Path) -> None:
    assert fsutil.ensure_dir(tmp_path / "a" / "b") is True
    assert fsutil.ensure_dir(tmp_path / "a" / "b") is False
    fsutil.fsync_dir(tmp_path / "a")


def test_remove_tree(tmp_path: Path) -> None:
    (tmp_path / "t" / "sub").mkdir(parents=True)
    (tmp_path / "t" / "sub" / "f").write_bytes(b"x")
    fsutil.remove_tree(tmp_path / "t")
    assert not (tmp_path / "t").exists()
    fsutil.remove_tree(tmp_path / "t")  # already gone: fine


# -- the name gate ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "Mail.json", "ünïcødé", "x" * 255, "é" * 127, "a.tmpx",
                                  "..a", "a..b", " spaced "])
def test_check_component_accepts(name: str) -> None:
    assert fsutil.check_component(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/", "a\\b", "a\0b", "a\nb", "\x7f",
                                  "a\x1bb", "\x85", "name.tmp", "x" * 256, "é" * 128, "\ud800",
                                  None, b"bytes"])
def test_check_component_refuses(name: object) -> None:
    with pytest.raises(UnsafeName):
        fsutil.check_component(name)  # type: ignore[arg-type]


def test_check_component_reserved_prefix() -> None:
    with pytest.raises(UnsafeName):
        fsutil.check_component(".deleted-1", reserved_prefix=".")
    assert fsutil.check_component("a.deleted", reserved_prefix=".") == "a.deleted"


def test_unsafe_name_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        fsutil.check_component("..")


# -- locks -----------------------------------------------------------------------------------

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""

PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(3)
"""


@contextlib.contextmanager
def held_by_other_process(path: Path) -> Iterator[None]:
    """Another OS process holds the flock on `path` until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        yield
    finally:
        proc.communicate("\n", timeout=30)
    assert proc.returncode == 0


def probe(path: Path) -> int:
    """Exit code of another process trying the flock without waiting: 0 got it, 3 blocked."""
    return subprocess.run([sys.executable, "-c", PROBE, str(path)], timeout=30).returncode


def test_locked_excludes_another_process(tmp_path: Path) -> None:
    lock = tmp_path / "f.lock"
    with fsutil.locked(lock):
        assert probe(lock) == 3
    assert probe(lock) == 0


def test_locked_waits_for_another_process(tmp_path: Path) -> None:
    lock = tmp_path / "f.lock"
    got = threading.Event()

    def take() -> None:
        with fsutil.locked(lock):
            got.set()

    with held_by_other_process(lock):
        worker = threading.Thread(target=take)
        worker.start()
        assert not got.wait(0.2)
    assert got.wait(10)
    worker.join()


def test_locked_excludes_another_thread(tmp_path: Path) -> None:
    lock = tmp_path / "f.lock"
    inside = 0
    overlaps = 0
    counter_lock = threading.Lock()

    def work() -> None:
        nonlocal inside, overlaps
        for _ in range(50):
            with fsutil.locked(lock):
                with counter_lock:
                    inside += 1
                    overlaps += inside > 1
                with counter_lock:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == 0


def test_locked_is_released_on_error(tmp_path: Path) -> None:
    lock = tmp_path / "f.lock"
    with pytest.raises(RuntimeError), fsutil.locked(lock):
        raise RuntimeError("boom")
    assert probe(lock) == 0


async def test_alocked_does_not_block_loop_while_other_process_holds(tmp_path: Path) -> None:
    lock = tmp_path / "f.lock"
    acquired = asyncio.Event()

    async def take() -> None:
        async with fsutil.alocked(lock):
            acquired.set()

    with held_by_other_process(lock):
        task = asyncio.create_task(take())
        ticks = 0
        for _ in range(20):  # the loop keeps running other coroutines meanwhile
            await asyncio.sleep(0.005)
            ticks += 1
        assert ticks == 20
        assert not acquired.is_set()
    await asyncio.wait_for(task, 10)
    assert acquired.is_set()
    assert probe(lock) == 0


async def test_alocked_serialises_coroutines(tmp_path: Path) -> None:
    lock = tmp_path / "f.lock"
    order: list[str] = []

    async def worker(name: str) -> None:
        async with fsutil.alocked(lock):
            order.append(f"{name}+")
            await asyncio.sleep(0.01)
            order.append(f"{name}-")

    await asyncio.gather(*(worker(str(i)) for i in range(3)))
    assert [order[i][-1] for i in range(6)] == ["+", "-"] * 3
    assert all(order[i][:-1] == order[i + 1][:-1] for i in range(0, 6, 2))


async def test_alocked_excludes_thread_using_locked(tmp_path: Path) -> None:
    lock = tmp_path / "f.lock"
    got = threading.Event()

    def take() -> None:
        with fsutil.locked(lock):
            got.set()

    async with fsutil.alocked(lock):
        worker = threading.Thread(target=take)
        worker.start()
        assert not await asyncio.to_thread(got.wait, 0.2)
    assert await asyncio.to_thread(got.wait, 10)
    worker.join()


async def test_alocked_cancelled_while_waiting_releases_later(tmp_path: Path) -> None:
    """A coroutine cancelled while its worker thread waits for the flock must not leave the
    lock held for ever once the worker finally gets it."""
    lock = tmp_path / "f.lock"

    async def take() -> None:
        async with fsutil.alocked(lock):
            pass  # pragma: no cover - cancelled before

    with held_by_other_process(lock):
        task = asyncio.create_task(take())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    got = threading.Event()

    def take_sync() -> None:
        with fsutil.locked(lock):
            got.set()

    threading.Thread(target=take_sync, daemon=True).start()
    assert await asyncio.to_thread(got.wait, 10)
    assert probe(lock) == 0


def test_flock_probe_sees_fcntl_semantics(tmp_path: Path) -> None:
    """Sanity check of the probe itself: flock conflicts between open files of one process."""
    lock = tmp_path / "f.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert probe(lock) == 3
    finally:
        os.close(fd)
    assert probe(lock) == 0


def test_start_writeback_keeps_the_bytes_and_reports_a_bad_descriptor(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = os.urandom(3 * 1024 * 1024)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data[:1024 * 1024])
        fsutil.start_writeback(fd)  # queued for the disk, no wait; writing goes on
        os.write(fd, data[1024 * 1024:])
        fsutil.start_writeback(fd, 1024 * 1024, 0)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    assert path.read_bytes() == data
    with pytest.raises(OSError) as caught:
        fsutil.start_writeback(-1)  # not a descriptor: EBADF is an error, not silence
    assert caught.value.errno == errno.EBADF


@pytest.mark.parametrize("length", [0, 1, 4096, 3 * 1024 * 1024 + 7])
@pytest.mark.parametrize("hint", ["exact", "smaller", "larger"])
def test_read_file_reads_the_whole_file_whatever_the_size_hint(tmp_path: Path, length: int,
                                                                hint: str) -> None:
    path = tmp_path / "message.eml"
    data = os.urandom(length)
    path.write_bytes(data)
    size = {"exact": length, "smaller": max(0, length // 3 - 1), "larger": length + 100}[hint]
    assert fsutil.read_file(str(path), size) == data
    with pytest.raises(FileNotFoundError):
        fsutil.read_file(str(tmp_path / "gone.eml"), size)
