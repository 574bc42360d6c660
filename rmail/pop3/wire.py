"""A stored message as RETR and TOP send it (RFC 1939 §3): CRLF line ends and dot-stuffing,
computed chunk by chunk so a large message is never held in memory whole. Pure functions.

Messages are stored byte for byte as received, which may include bare LF line ends (IMAP
APPEND, the JSON API). On the wire every line ends in CRLF, so a bare LF becomes CRLF; a lone
CR is left alone; a last line without a line end gets one. LIST and STAT report the size of
the message in this form (`rmail.store.journal.wire_size`, kept in the folder index), without
the dot-stuffing and the termination line (RFC 1939 §5: "the exact size of the message").
"""

from __future__ import annotations

import re

_BARE_LF = re.compile(rb"(?<!\r)\n")
_LINE_DOT = re.compile(rb"\n\.")


class Stuffer:
    """Turns consecutive chunks of a message into its multi-line response body."""

    def __init__(self) -> None:
        self.at_line_start = True
        self._after_cr = False  # the previous chunk ended with CR (its LF may come next)
        self.last = b"\n"  # the last byte produced (is the body already at a line end?)

    def feed(self, chunk: bytes) -> bytes:
        if not chunk:
            return b""
        head = b""
        if self._after_cr and chunk[:1] == b"\n":  # the LF of a CRLF split between chunks
            head, chunk = b"\n", chunk[1:]
            self.at_line_start = True
            if not chunk:
                self._after_cr = False
                self.last = b"\n"
                return head
        if b"\n" in chunk and chunk.count(b"\n") != chunk.count(b"\r\n"):
            chunk = _BARE_LF.sub(b"\r\n", chunk)
        if b"\n." in chunk:
            chunk = _LINE_DOT.sub(b"\n..", chunk)
        if self.at_line_start and chunk[:1] == b".":
            chunk = b"." + chunk
        self._after_cr = chunk[-1:] == b"\r"
        self.at_line_start = chunk[-1:] == b"\n"
        self.last = chunk[-1:]
        return head + chunk

    def end(self) -> bytes:
        """The termination: CRLF first if the message did not end with a line end."""
        return b".\r\n" if self.last == b"\n" else b"\r\n.\r\n"


def top_length(data: bytes, lines: int, eof: bool) -> int | None:
    """How many leading bytes of a message TOP sends: the header, the blank line and `lines`
    lines of the body (RFC 1939 §7). None: more data is needed to decide."""
    pos = 0
    in_header = True
    remaining = lines
    while True:
        if not in_header and remaining == 0:
            return pos
        nl = data.find(b"\n", pos)
        if nl < 0:
            return len(data) if eof else None
        line = data[pos:nl]
        pos = nl + 1
        if in_header:
            if line in (b"", b"\r"):
                in_header = False
        else:
            remaining -= 1
