"""One worker process of a multi-process server: ``python -m rmail.worker``, started by
`rmail.supervisor` with the listening sockets and its end of the bus inherited, and a pickled
`WorkerSpec` on stdin.

It builds its own `Services` (stores, pools, caches are per process; the store is safe for
several processes), links its event bus, lockout and queue to the supervisor (`rmail.bus`),
serves every listener on the shared sockets, and runs no singleton (the supervisor runs the
queue runner and the reminders). It stops gracefully on SIGTERM or SIGINT, and also when the
supervisor goes away (the bus closes, or the kernel's parent-death signal arrives), so a killed
supervisor leaves no orphan serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pickle
import signal
import socket
import sys

from rmail.auth import passwords
from rmail.bus import BusLink, rss_bytes
from rmail.conntable import ConnectionTable
from rmail.heap import freeze_startup_objects, keep_freed_memory
from rmail.store.quotaclaims import QuotaClaims
from rmail.supervisor import WorkerSpec

__all__ = ["main", "serve_worker", "set_title"]

log = logging.getLogger("rmail.worker")

PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1


def set_title(title: str) -> None:
    """Show ``title`` in ps/top: setproctitle when installed, else the kernel's comm name
    (`prctl(PR_SET_NAME)`, 15 bytes)."""
    try:
        import setproctitle
    except ImportError:
        setproctitle = None  # type: ignore[assignment]
    if setproctitle is not None:
        setproctitle.setproctitle(title)
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(title.encode()[:15]), 0, 0, 0)


def die_with_parent() -> None:
    """Ask the kernel for SIGTERM when the supervisor dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the supervisor died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


async def serve_worker(spec: WorkerSpec) -> None:
    from rmail.server import Server
    from rmail.services import build_services

    sockets = {name: socket.socket(fileno=fd) for name, fd in spec.sockets.items()}
    bus_sock = socket.socket(fileno=spec.bus)
    passwords.set_cache_key(spec.password_key)  # digests learnt over the bus must match
    connections = ConnectionTable.attach(spec.connections, spec.index - 1)
    core = build_services(spec.config)
    core.mail.share_claims(QuotaClaims.attach(spec.quota, spec.index))
    link = BusLink(core, bus_sock, spec.index)
    await link.start()
    server = Server(core.config, services={**spec.services, "core": core},
                    factories=spec.factories or None, sockets=sockets, worker=spec.index,
                    bus=link, connections=connections)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.request_stop)
    try:
        await server.start()
        frozen = freeze_startup_objects()
        keep_freed_memory()
        log.debug("worker %d: %d startup objects frozen", spec.index, frozen)
        link.send({"t": "ready", "pid": os.getpid(), "rss": rss_bytes()})
        closed = asyncio.ensure_future(link.closed.wait())
        stop = asyncio.ensure_future(server.wait_stop_requested())
        await asyncio.wait({closed, stop}, return_when=asyncio.FIRST_COMPLETED)
        if closed.done() and not stop.done():
            log.warning("worker %d: the supervisor is gone; stopping", spec.index)
        closed.cancel()
        stop.cancel()
    finally:
        await server.stop()
        await link.close()
        core.close()
        connections.close()
        core.mail.claims.close()


def main() -> int:
    spec: WorkerSpec = pickle.load(sys.stdin.buffer)
    set_title(f"rmail: worker {spec.index}")
    die_with_parent()
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO,
            format=f"%(asctime)s %(levelname)s [worker {spec.index}] %(name)s: %(message)s")
    try:
        asyncio.run(serve_worker(spec))
    except Exception:
        log.exception("worker %d failed", spec.index)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
