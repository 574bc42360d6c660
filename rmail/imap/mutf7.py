"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3).

Printable US-ASCII except "&" stands for itself, "&" is "&-", everything else is UTF-16BE in
base64 with "," for "/", no padding, between "&" and "-". Decoding is strict: a name that
would not encode back to exactly the same bytes (non-canonical, stray "&", bad base64, lone
surrogates, 8-bit bytes) is refused, so every mailbox has exactly one wire spelling.
"""

from __future__ import annotations

import base64
import binascii


class MUTF7Error(ValueError):
    """The bytes are not valid modified UTF-7."""


def encode(name: str) -> bytes:
    out = bytearray()
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be", "surrogatepass")
            out.extend(b"&" + base64.b64encode(data).rstrip(b"=").replace(b"/", b",") + b"-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.extend(b"&-" if ch == "&" else ch.encode("ascii"))
        else:
            pending.append(ch)
    flush()
    return bytes(out)


def decode(data: bytes) -> str:
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c < 0x20 or c > 0x7E:
            raise MUTF7Error("8-bit or control character in a modified UTF-7 name")
        if c != 0x26:  # "&"
            out.append(chr(c))
            i += 1
            continue
        end = data.find(b"-", i + 1)
        if end < 0:
            raise MUTF7Error("unterminated &-sequence")
        chunk = data[i + 1:end]
        i = end + 1
        if not chunk:
            out.append("&")
            continue
        try:
            raw = base64.b64decode(chunk.replace(b",", b"/") + b"=" * (-len(chunk) % 4),
                                   validate=True)
            text = raw.decode("utf-16-be")
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise MUTF7Error("invalid base64 in a modified UTF-7 name") from exc
        out.append(text)
    name = "".join(out)
    if encode(name) != data:
        raise MUTF7Error("modified UTF-7 name is not in canonical form")
    return name
