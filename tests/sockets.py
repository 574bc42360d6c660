"""Blocking-socket helpers for tests that read a listener's bytes directly (greetings and
refusals, where a protocol client would hide what the server sent)."""

from __future__ import annotations

import socket


def read_line(sock: socket.socket) -> bytes:
    """What the peer sent up to the end of its first line (LF, so CRLF too), or everything it
    sent before closing. Reads in small chunks; whatever follows in the same chunk is kept."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1024)
        if not chunk:
            break
        data += chunk
    return data
