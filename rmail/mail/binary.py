"""Make a message that arrived as binary (IMAP APPEND with a literal8, RFC 3516) safe to serve
as an ordinary literal.

RFC 3501 §4.3 forbids NUL in a literal, and `BODY[]`/`RFC822` must answer with one, so a part
whose content is binary is re-encoded in base64 when it is stored (as Dovecot does): its
Content-Transfer-Encoding header says `base64` and `BINARY[part]` (RFC 3516) still returns the
original bytes, since it undoes the encoding. Parts that are already text are left alone.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from rmail.mail.parse import parse_message

_CTE_FIELD = re.compile(rb"^Content-Transfer-Encoding[ \t]*:.*(?:\r?\n[ \t].*)*\r?\n",
                        re.IGNORECASE | re.MULTILINE)
_LINE = 76  # RFC 2045 §6.8: encoded lines are at most 76 characters


def _leaves(node: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        part = stack.pop()
        if "parts" in part:
            stack.extend(part["parts"])
        elif part.get("message"):
            stack.append(part["message"]["body"])
        else:
            out.append(part)
    return out


def _base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i:i + _LINE] for i in range(0, len(encoded), _LINE))


def _new_header(header: bytes) -> bytes:
    """The part header with its Content-Transfer-Encoding set to base64."""
    field = b"Content-Transfer-Encoding: base64\r\n"
    if _CTE_FIELD.search(header):
        return _CTE_FIELD.sub(lambda _: field, header, count=1)
    # no field yet: insert it before the blank line that ends the header
    end = header.rfind(b"\r\n\r\n")
    if end >= 0:
        return header[:end + 2] + field + header[end + 2:]
    end = header.rfind(b"\n\n")
    if end >= 0:
        return header[:end + 1] + field + header[end + 1:]
    return header + (b"" if header.endswith(b"\n") or not header else b"\r\n") + field


def seven_bit_safe(raw: bytes) -> bytes:
    """`raw` with every leaf part that holds NUL bytes, or is labelled `binary`, re-encoded
    in base64; `raw` itself when there is none."""
    if b"\x00" not in raw and b"binary" not in raw.lower():
        return raw
    tree = parse_message(raw)
    edits: list[tuple[int, int, bytes]] = []  # (start, end, replacement), non-overlapping
    for leaf in _leaves(tree["body"]):
        h_start, h_len = leaf["header"]
        b_start, b_len = leaf["body"]
        body = raw[b_start:b_start + b_len]
        if b"\x00" not in body and (leaf.get("encoding") or "").upper() != "BINARY":
            continue
        if h_start + h_len != b_start:  # header and body not adjacent: leave it alone
            continue
        header = raw[h_start:h_start + h_len]
        edits.append((h_start, b_start + b_len, _new_header(header) + _base64_lines(body)))
    if not edits:
        return raw.replace(b"\x00", b"\x80")  # NULs outside any part (a preamble, a header)
    out: list[bytes] = []
    pos = 0
    for start, end, replacement in sorted(edits):
        if start < pos:
            continue
        out.append(raw[pos:start])
        out.append(replacement)
        pos = end
    out.append(raw[pos:])
    result = b"".join(out)
    return result.replace(b"\x00", b"\x80") if b"\x00" in result else result
