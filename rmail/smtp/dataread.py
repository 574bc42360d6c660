"""Reading an SMTP DATA body (RFC 5321 §4.1.1.4, §4.5.2) in blocks instead of lines.

aiosmtpd reads DATA a line at a time through a `StreamReader` whose limit is the line
length limit (1001 bytes): every line costs a ``readuntil`` and a turn of a Python loop, and
since the reader pauses its transport above twice its limit, a 4 KB message arriving in one
segment makes the transport pause and resume (an ``epoll_ctl`` each) for nearly every line.
That was about a tenth of a worker's CPU per delivered message. Here the reader's limit is
raised for the length of the body, the body is read up to each ``.<CRLF>`` (only the one that
starts a line ends it) and checked with bytes methods: the same rules as aiosmtpd's loop
(`BodyTooLong` before `BodyTooBig` when a line is over the limit first, the size counted as
sent, dot-unstuffing of every line that starts with a dot), at a few calls per message.
"""

from __future__ import annotations

import asyncio
import enum

__all__ = ["BLOCK_LIMIT", "DataProblem", "read_data"]

# The reader's limit while a body is read: a body with no ".<CRLF>" for this long is
# consumed in blocks of about this size (and the transport pauses above twice it).
BLOCK_LIMIT = 1 << 16
_END = b".\r\n"
_CRLF = b"\r\n"


class DataProblem(enum.Enum):
    """Why a body read to its end is refused (aiosmtpd's replies for each)."""

    TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
    TOO_MUCH = "552 Error: Too much mail data"


class _Body:
    """The body as it arrives: kept while within the limits, checked line by line in bulk."""

    __slots__ = ("carry", "line_limit", "line_run", "parts", "problem", "size", "size_limit",
                 "tail")

    def __init__(self, size_limit: int | None, line_limit: int) -> None:
        self.size_limit = size_limit
        self.line_limit = line_limit
        self.parts: list[bytes] = []
        self.size = 0  # bytes as sent, dot-stuffing and line ends included
        self.line_run = 0  # bytes of the line in progress (no CRLF seen yet)
        self.tail = _CRLF  # the last two bytes read: the DATA command ended a line
        self.problem: DataProblem | None = None
        self.carry = b""

    def add(self, block: bytes) -> None:
        if not block:
            return
        self.tail = (self.tail + block)[-2:]
        start = self.size  # where this block starts in the body as sent
        self.size += len(block)
        if self.carry:  # a CR held back from the previous block
            block, self.carry = self.carry + block, b""
            start -= 1
        if block.endswith(b"\r"):  # maybe half of a CRLF: judged with the next block
            block, self.carry = block[:-1], b"\r"
        if self.problem is None:
            run = self.line_run
            too_long = self._longest(block) + 2 > self.line_limit
            too_much = self.size_limit is not None and 0 < self.size_limit < self.size
            if too_long and too_much:  # which came first (rare: look line by line)
                self.problem = self._first_problem(block, start, run)
            elif too_long or too_much:
                self.problem = DataProblem.TOO_LONG if too_long else DataProblem.TOO_MUCH
        if self.problem is None:
            self.parts.append(block)
        else:
            self.parts.clear()  # refused anyway: do not hold it in memory

    def _longest(self, block: bytes) -> int:
        """The longest line (without CRLF) that ``block`` ends or continues."""
        lines = block.split(_CRLF)
        if len(lines) == 1:
            self.line_run += len(block)
            return self.line_run
        longest = max(self.line_run + len(lines[0]), *map(len, lines[1:]))
        self.line_run = len(lines[-1])
        return longest

    def _first_problem(self, block: bytes, start: int, run: int) -> DataProblem:
        """aiosmtpd's order within one block: a line longer than its reader's limit is
        refused as it is read, the size is judged at each line's end, then its length."""
        assert self.size_limit
        end = start - run
        for line in block.split(_CRLF)[:-1]:
            length = run + len(line) + 2
            run = 0
            end += length
            if length - 2 > self.line_limit or (end <= self.size_limit
                                                and length > self.line_limit):
                return DataProblem.TOO_LONG
            if end > self.size_limit:
                return DataProblem.TOO_MUCH
        return DataProblem.TOO_LONG  # the line still in progress is over the limit

    def content(self) -> bytes:
        """The message: the body without its dot-stuffing (RFC 5321 §4.5.2)."""
        data = b"".join(self.parts) + self.carry
        if data.startswith(b"."):
            data = data[1:]
        return data.replace(b"\r\n.", _CRLF)


async def read_data(reader: asyncio.StreamReader, size_limit: int | None,
                    line_limit: int) -> tuple[bytes, DataProblem | None]:
    """Read a DATA body up to the line holding a lone dot (consumed, nothing after it is);
    returns the message and None, or empty bytes and the problem to reply with. The whole
    body is read even when it is refused (RFC 5321 §4.2.5: the reply comes after the data).
    ``reader`` is the session's; its limit is put back before returning."""
    body = _Body(size_limit, line_limit)
    # asyncio's private limit, raised for the body only: correctness never depends on it (a
    # reader without it overruns at every block and is drained by the same path), speed does.
    saved: int = getattr(reader, "_limit", BLOCK_LIMIT)
    setattr(reader, "_limit", max(saved, BLOCK_LIMIT))  # noqa: B010 - not in typeshed
    try:
        while True:
            try:
                block = await reader.readuntil(_END)
            except asyncio.LimitOverrunError as exc:
                # No ".<CRLF>" within the limit: take what cannot be part of one.
                body.add(await reader.readexactly(exc.consumed))
                continue
            before = block[:-3]
            if (body.tail + before)[-2:] == _CRLF:
                body.add(before)
                break
            body.add(block)  # a dot ending a line of text, not the end of the data
    finally:
        setattr(reader, "_limit", saved)  # noqa: B010
    if body.problem is not None:
        return b"", body.problem
    return body.content(), None
