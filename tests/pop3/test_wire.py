"""What RETR and TOP put on the wire, on bytes alone: CRLF, dot-stuffing, chunk boundaries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rmail.pop3.wire import Stuffer, top_length
from rmail.store.journal import wire_size


def _encode(raw: bytes, cuts: list[int]) -> bytes:
    stuffer = Stuffer()
    out, pos = [], 0
    for cut in sorted(set(cuts)):
        out.append(stuffer.feed(raw[pos:cut]))
        pos = cut
    out.append(stuffer.feed(raw[pos:]))
    return b"".join(out) + stuffer.end()


def _unstuff(body: bytes) -> bytes:
    """What a client does (RFC 1939 §3): strip the termination, undo the byte-stuffing."""
    assert body.endswith(b"\r\n.\r\n") or body == b".\r\n"
    lines = body[:-3].split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def test_crlf_message_unchanged_but_stuffed() -> None:
    raw = b"Subject: x\r\n\r\n.starts with a dot\r\n..two\r\nend\r\n"
    assert _encode(raw, []) == (b"Subject: x\r\n\r\n..starts with a dot\r\n...two\r\nend\r\n"
                                b".\r\n")


def test_bare_lf_becomes_crlf() -> None:
    raw = b"Subject: x\n\nline\n.dot\n"
    assert _encode(raw, []) == b"Subject: x\r\n\r\nline\r\n..dot\r\n.\r\n"
    assert wire_size(raw) == len(b"Subject: x\r\n\r\nline\r\n.dot\r\n")


def test_no_final_line_end_gets_one_before_the_dot() -> None:
    assert _encode(b"Subject: x\r\n\r\nno newline", []) == (
        b"Subject: x\r\n\r\nno newline\r\n.\r\n")


def test_crlf_split_between_chunks() -> None:
    raw = b"a\r\n.b\r\nc\r\n"
    for cut in range(len(raw) + 1):
        assert _encode(raw, [cut]) == b"a\r\n..b\r\nc\r\n.\r\n"


@given(st.binary(max_size=200).map(lambda b: b.replace(b"\r", b"")),
       st.lists(st.integers(0, 200), max_size=4))
def test_roundtrip_lf_messages(raw: bytes, cuts: list[int]) -> None:
    """Any LF-only message, cut anywhere: the client gets it back with CRLF line ends, and its
    size is what `wire_size` said."""
    body = _encode(raw, cuts)
    got = _unstuff(body)
    expected = raw.replace(b"\n", b"\r\n")
    # a message without a final line end gets one (RFC 1939 §3: the body is lines)
    assert got == (expected if expected.endswith(b"\r\n") or not expected
                   else expected + b"\r\n")
    # the size LIST reports is what the client gets (before the termination line)
    content = body[:-3]  # without the termination line
    stuffed = sum(line.startswith(b".") for line in content.split(b"\r\n"))
    assert wire_size(raw) == len(content) - stuffed


@given(st.lists(st.sampled_from([b"a", b".", b"\r\n", b"x.y", b".."]), max_size=40),
       st.lists(st.integers(0, 100), max_size=4))
def test_roundtrip_crlf_messages(parts: list[bytes], cuts: list[int]) -> None:
    raw = b"".join(parts)
    body = _encode(raw, cuts)
    assert b"\r\n.\r\n" not in body[:-3] or body.endswith(b"\r\n.\r\n")
    lines = body[:-3].split(b"\r\n")[:-1]
    assert all(not line.startswith(b".") or line.startswith(b"..") for line in lines)


def test_top_length() -> None:
    msg = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"
    assert msg[:top_length(msg, 0, True)] == b"A: 1\r\nB: 2\r\n\r\n"
    assert msg[:top_length(msg, 2, True)] == b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n"
    assert top_length(msg, 10, True) == len(msg)
    assert top_length(msg, 10, False) is None
    assert top_length(b"A: 1\r\nB", 0, False) is None
    assert top_length(b"A: 1\nB: 2\n\nbody\n", 0, True) == len(b"A: 1\nB: 2\n\n")
