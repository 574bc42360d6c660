"""Helpers the benchmark scripts share, so each script holds only its workload and its peer:
free ports, waiting for a server to answer, starting and stopping `rmail serve` from a config,
and reading a server's CPU time and memory (a supervisor and its workers) from /proc.

Every script imports this as ``bench.common`` after putting the checkout first on sys.path.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rmail.config import LISTENER_NAMES

REPO = Path(__file__).resolve().parent.parent


def say(text: str = "") -> None:
    """Print at once: a long run's progress shows while it runs, even through a pipe."""
    print(text, flush=True)


def load() -> str:
    """The load average, as a report prints it beside every figure."""
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, *,
              greeting: bytes | None = None, timeout: float = 60.0) -> None:
    """Until a connection to `port` on loopback succeeds and, with `greeting`, the first bytes
    the server sends start with it (``b""``: wait for any first bytes or the close). Raises
    when `proc` exits meanwhile or nothing answers within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if greeting is None or sock.recv(100).startswith(greeting):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


def listeners(**enabled: dict[str, object]) -> dict[str, dict[str, object]]:
    """rmail's `listeners` section: the ones named (with their settings) enabled on loopback,
    every other listener off."""
    section: dict[str, dict[str, object]] = {name: {"enabled": False, "port": 0}
                                             for name in LISTENER_NAMES}
    for name, settings in enabled.items():
        section[name] = {"enabled": True, "host": "127.0.0.1", **settings}
    return section


def write_config(path: Path, data: dict[str, object]) -> Path:
    """`data` written to `path` as rmail's JSON config; returns `path`."""
    path.write_text(json.dumps(data))
    return path


def serve_rmail(config: Path, log: Path | None = None) -> subprocess.Popen[bytes]:
    """`rmail serve` (the checkout's `bin/rmail`) on the JSON config at `config`; its output
    is appended to `log`, or dropped without one."""
    command = [sys.executable, str(REPO / "bin" / "rmail"), "--config", str(config), "serve"]
    if log is None:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL when it has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def remove_work(work: Path, keep: bool) -> None:
    """Remove a benchmark's work directory, or say where it is kept (`--keep`)."""
    if keep:
        say(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class Peer:
    """A server under test: its port and process (a daemon that forks names its real pid in
    `pidfile`)."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    pidfile: Path | None = None

    def pid(self) -> int:
        if self.pidfile is not None and self.pidfile.exists():
            return int(self.pidfile.read_text().split()[0])
        return self.proc.pid

    def stop(self) -> None:
        stop_process(self.proc)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its children (a supervisor and its workers, a daemon and its workers)."""
    found = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def cpu_seconds(*pids: int) -> float:
    """User + system CPU time so far of these processes and their children (from /proc; the
    robust figure on a shared machine, where rates swing with other work but CPU per unit of
    work hardly does)."""
    total = 0.0
    for pid in pids:
        for p in process_tree(pid):
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_kb(pid: int) -> int:
    """Resident memory of one process (VmRSS), in KB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def settle(*pids: int, idle_share: float = 0.03, window: float = 0.5,
           timeout: float = 60.0) -> float:
    """Wait until the previous point's after-effects are over, so each contender starts from
    the same state: dirty pages written back (``sync``) and these processes (every server of
    the run, each with its children) using under ``idle_share`` of one CPU over ``window``
    seconds (an rmail still indexing what the last point delivered, a peer still writing its
    queue). Returns the seconds waited (``timeout`` at most)."""
    start = time.monotonic()
    os.sync()
    while time.monotonic() - start < timeout:
        before = cpu_seconds(*pids)
        time.sleep(window)
        if cpu_seconds(*pids) - before < idle_share * window:
            break
    return time.monotonic() - start


def rss_each(pid: int) -> list[float]:
    """Resident memory of a process and of each of its children, in MB."""
    return [kb / 1024 for p in process_tree(pid) if (kb := rss_kb(p))]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    return sum(rss_each(pid))
