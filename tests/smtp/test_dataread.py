"""DATA read in blocks (`rmail.smtp.dataread`): the same message, limits and replies as
aiosmtpd's line loop, whatever the segmentation; and pipelined commands after the dot stay
for the session."""

from __future__ import annotations

import asyncio

import pytest

from rmail.smtp.dataread import BLOCK_LIMIT, DataProblem, read_data
from tests.mailenv import DOMAIN, MailEnv, body_of, in_thread
from tests.smtp.test_malformed import RawClient

LINE_LIMIT = 1001  # aiosmtpd's


async def _read(segments: list[bytes], size_limit: int | None = None
                ) -> tuple[bytes, DataProblem | None, bytes, int]:
    """Feed ``segments`` to a session-like reader; the result, what is left after it and the
    reader's limit afterwards."""
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    for segment in segments:
        reader.feed_data(segment)
    reader.feed_eof()
    content, problem = await read_data(reader, size_limit, LINE_LIMIT)
    return content, problem, await reader.read(), reader._limit


def _each_split(wire: bytes) -> list[list[bytes]]:
    """The wire bytes whole, byte by byte, and cut at every position."""
    return [[wire], [wire[i:i + 1] for i in range(len(wire))],
            *([wire[:i], wire[i:]] for i in range(1, len(wire)))]


@pytest.mark.parametrize("wire,expected", [
    (b".\r\n", b""),  # an empty message
    (b"\r\n.\r\n", b"\r\n"),
    (b"Subject: x\r\n\r\nend of a sentence.\r\n.\r\n", b"Subject: x\r\n\r\nend of a sentence.\r\n"),
    (b"..\r\n...two\r\n.x\r\n.\r\n", b".\r\n..two\r\nx\r\n"),  # dot-unstuffing per line
    (b"a\nb.\r\n.\n\r\n.\r\n", b"a\nb.\r\n\n\r\n"),  # a bare LF ends no line
    (b"x\r.\r\n.\r\n", b"x\r.\r\n"),
])
async def test_message_whatever_the_segmentation(wire: bytes, expected: bytes) -> None:
    for segments in _each_split(wire + b"QUIT\r\n"):
        content, problem, rest, limit = await _read(segments)
        assert (content, problem, rest, limit) == (expected, None, b"QUIT\r\n", LINE_LIMIT)


async def test_line_length_limit_counts_the_crlf() -> None:
    fits = b"x" * (LINE_LIMIT - 2) + b"\r\n"
    over = b"x" * (LINE_LIMIT - 1) + b"\r\n"
    for segments in _each_split(b"a\r\n" + fits + b".\r\nNOOP\r\n"):
        assert (await _read(segments))[:3] == (b"a\r\n" + fits, None, b"NOOP\r\n")
    for segments in _each_split(b"a\r\n" + over + b"b\r\n.\r\nNOOP\r\n"):
        assert (await _read(segments))[1:3] == (DataProblem.TOO_LONG, b"NOOP\r\n")


async def test_bodies_longer_than_a_block() -> None:
    lines = b"".join(b"%d%s\r\n" % (i, b"y" * 900) for i in range(300))  # about 270 KB
    assert len(lines) > 4 * BLOCK_LIMIT
    wire = lines + b".\r\nRSET\r\n"
    for cut in (1, 1000, 4096, BLOCK_LIMIT - 1, BLOCK_LIMIT + 1):
        segments = [wire[i:i + cut] for i in range(0, len(wire), cut)]
        assert await _read(segments) == (lines, None, b"RSET\r\n", LINE_LIMIT)
    one_line = b"z" * (3 * BLOCK_LIMIT) + b"\r\n.\r\nRSET\r\n"
    assert (await _read([one_line]))[1:3] == (DataProblem.TOO_LONG, b"RSET\r\n")


async def test_size_limit_counts_the_body_as_sent() -> None:
    body = b"..\r\n" * 25  # 100 bytes as sent, 75 once unstuffed
    assert (await _read([body + b".\r\n"], size_limit=100))[:2] == (b".\r\n" * 25, None)
    assert (await _read([body + b".\r\n"], size_limit=99))[:2] == (b"", DataProblem.TOO_MUCH)
    # the first problem decides the reply, as in aiosmtpd's loop
    long_first = b"x" * 2000 + b"\r\n" + b"y\r\n" * 100 + b".\r\n"
    assert (await _read([long_first], size_limit=1000))[1] is DataProblem.TOO_LONG
    big_first = b"y\r\n" * 400 + b"x" * 2000 + b"\r\n.\r\n"
    assert (await _read([big_first], size_limit=1000))[1] is DataProblem.TOO_MUCH


async def test_pipelined_transactions_over_a_socket(env: MailEnv) -> None:
    """Two messages and QUIT in one write: each body ends at its own dot and the commands
    after it are read as commands."""
    first = b"Subject: one\r\n\r\n..dot\r\nend.\r\n"
    second = b"Subject: two\r\n\r\n" + b"w" * 70_000 + b"\r\n"  # longer than a block

    def go() -> list[bytes]:
        c = RawClient(env.addr("smtp"))
        try:
            assert c.say(b"EHLO client.example.net").startswith(b"250")
            stuffed = first.replace(b"\r\n..", b"\r\n...")
            c.sock.sendall(b"MAIL FROM:<a@example.net>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"
                           + stuffed + b".\r\nMAIL FROM:<a@example.net>\r\n"
                           b"RCPT TO:<bob@example.com>\r\nDATA\r\n" + second
                           + b".\r\nQUIT\r\n")
            return [c.reply() for _ in range(9)]
        finally:
            c.close()

    replies = await in_thread(go)
    codes = [r[:3] for r in replies]
    assert codes == [b"250", b"250", b"354", b"250", b"250", b"250", b"354", b"500", b"221"]
    [stored] = env.inbox("bob", DOMAIN)
    assert body_of(stored) == first
