"""Parse a raw RFC 5322/MIME message once, at delivery, into a JSON-ready dict.

IMAP renders ENVELOPE and BODYSTRUCTURE from the result and serves `BODY[1.2]<partial>`,
`BODY[1.2.HEADER]` or `BODY[1.MIME]` by reading byte ranges of the stored file; the web front
ends list messages from `summary`. Neither re-parses the message. Shape (format version 1)::

    {"version": 1, "size": len(raw), "envelope": ENVELOPE, "body": PART, "summary": {...}}

    ENVELOPE = {"date", "subject", "in_reply_to", "message_id": raw unfolded str | None,
                "from", "sender", "reply_to", "to", "cc", "bcc": [ADDRESS, ...] | None}
    ADDRESS  = [name, adl, mailbox, host]    (see addresses.py; names undecoded)
    PART     = {"part": "1.2", "type": "text", "subtype": "plain", "params": [[name, value]],
                "id", "description", "md5", "location": str | None,
                "encoding": upper-case, "7BIT" by default,
                "disposition": [type, params] | None, "language": [tag, ...] | None,
                "header": [offset, length], "body": [offset, length], "size": body length,
                "lines": int                           (text/* and message/rfc822|global only)
                "parts": [PART, ...]                   (every multipart/*, possibly empty)
                "message": {"envelope", "body": PART}  (message/rfc822|global, when parsed)}

Part numbers follow RFC 3501 §6.4.5: a multipart that is a message's body carries the
message's own number ("" for the top message, "3" for the message inside part 3) and its
children are numbered under it; a non-multipart message body is that number plus ".1" ("1"
at the top). A message/rfc822 part encoded in base64 or quoted-printable, or nested deeper
than MAX_DEPTH, has no "message" key (its content has no offsets in the raw file); a multipart
deeper than MAX_DEPTH, without a boundary, or without any delimiter line has "parts": [].

The MIME tree comes from one forward scan of the bytes with `bytes.find`. Delimiters follow
RFC 2046 §5.1.1: a line starting with "--" + boundary ends the part before it, the line break
in front of it belongs to the delimiter, and a boundary only has to prefix the line (so
trailing whitespace is fine). The delimiters of every enclosing multipart stay active, so an
unterminated inner multipart ends where its parent's next delimiter starts; when boundaries
prefix one another the longest match wins. LF, CRLF or mixed line ends are all accepted.

Hostile input is bounded rather than rejected: past MAX_PARTS nodes, MAX_STEPS delimiter
checks, SCAN_FACTOR reads of the message by boundary searches or HEADER_BUDGET header bytes,
no further delimiter is recognised, so the part being parsed (and every open ancestor) runs
to the end of the data. The result stays a valid structure; the work stays well under a
second even for 25 MB built to hurt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rmail.mail.addresses import Address, parse_addresses
from rmail.mail.headers import Fields, Params, parse_content_value, read_fields
from rmail.mail.summary import build_summary

FORMAT_VERSION = 1
MAX_DEPTH = 64  # deeper multiparts and messages become opaque leaves
MAX_PARTS = 10_000  # past this many nodes, no more delimiters are recognised
MAX_STEPS = 100_000  # (open boundary, delimiter search) pairs, then as MAX_PARTS
SCAN_FACTOR = 16  # boundary searches may read the message this many times, then as MAX_PARTS
MAX_HEADER_BYTES = 512 * 1024  # fields are read from this much of one header block
HEADER_BUDGET = 2 * 1024 * 1024  # header bytes read per message, then as MAX_PARTS

Node = dict[str, Any]
ContentType = tuple[str, str, Params]  # type, subtype, parameters

_MESSAGE_TYPES = ("rfc822", "global")  # RFC 6532 §3.7: message/global nests like rfc822
_IDENTITY = ("7BIT", "8BIT", "BINARY")


def parse_message(raw: bytes) -> dict[str, Any]:
    """Parse `raw` into envelope, body structure with byte offsets, and summary.

    Never raises on any input: malformed messages get a best-effort structure whose offsets
    still lie within `raw`.
    """
    raw = bytes(raw)
    scanner = _Scanner(raw)
    body, _delim, fields = scanner.entity(0, "", depth=0, message="")
    env = envelope(fields)
    return {
        "version": FORMAT_VERSION,
        "size": len(raw),
        "envelope": env,
        "body": body,
        "summary": build_summary(raw, fields, env, body),
    }


def envelope(fields: Fields) -> dict[str, Any]:
    """RFC 3501 §7.4.2 ENVELOPE from a message's header fields, strings left undecoded.

    Sender and Reply-To default to From when absent or empty, as the RFC requires.
    """
    author = parse_addresses(fields.get("from"))
    return {
        "date": fields.get("date") or None,
        "subject": fields.get("subject") or None,
        "from": author,
        "sender": parse_addresses(fields.get("sender")) or _copy(author),
        "reply_to": parse_addresses(fields.get("reply-to")) or _copy(author),
        "to": parse_addresses(fields.get("to")),
        "cc": parse_addresses(fields.get("cc")),
        "bcc": parse_addresses(fields.get("bcc")),
        "in_reply_to": fields.get("in-reply-to") or None,
        "message_id": fields.get("message-id") or None,
    }


def _copy(addresses: list[Address] | None) -> list[Address] | None:
    return None if addresses is None else [list(a) for a in addresses]


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a setattr per field
class _Delim:
    """A delimiter line found by the scanner."""

    start: int  # the line break before the line: where the preceding content ends
    at: int  # the LF just before the line
    level: int  # index in the scanner's boundary stack of the multipart it belongs to
    close: bool  # "--boundary--"
    after: int  # first byte after the line


class _Scanner:
    """One forward pass over a message, with the boundaries of the open multiparts.

    `find` remembers per boundary where it occurs next, or how far it is known not to occur,
    and searches for an inner boundary only up to the enclosing multipart's next delimiter:
    each stretch of the message is searched about once per open boundary.
    """

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.size = len(raw)
        self.stack: list[bytes] = []
        # boundary -> (searched from, LF index found or -1, searched through when -1)
        self.cache: dict[bytes, tuple[int, int, int]] = {}
        self.dashes = (self.size + 1, -1)  # (searched from, first "\n--" at or after it)
        self.count = 0
        self.header_bytes = 0
        self.scanned = 0
        self.steps = 0
        self.line_counts: dict[int, tuple[int, int]] = {}  # end -> (start, LFs in between)
        self.scan_budget = SCAN_FACTOR * self.size + (1 << 20)
        self.truncated = False

    def find(self, boundary: bytes, pos: int, stop: int, lower: int) -> int:
        """Index of the LF before the first delimiter line of `boundary` that starts at or
        after `pos`, provided that index is at most `stop`; else -1. No delimiter of any
        boundary starts before `lower`."""
        frm = pos - 1 if pos > 0 else 0
        begin = keep = frm
        hit = self.cache.get(boundary)
        if hit is not None and hit[0] <= frm:
            found, through = hit[1], hit[2]
            if found >= frm:
                return found if found <= stop else -1
            if found < 0 and through >= stop:
                return -1
            if found < 0 and through >= frm - 1:
                begin, keep = through + 1, hit[0]  # extend the stretch known to be free
        begin = max(begin, lower)
        needle = b"\n--" + boundary
        found = self.raw.find(needle, begin, stop + len(needle))
        self.cache[boundary] = (keep, found, stop)
        self.scanned += max(0, (stop if found < 0 else found) - begin)
        if self.scanned > self.scan_budget:
            self.truncated = True  # hostile nesting: stop recognising structure
        return found

    def next_delim(self, pos: int) -> _Delim | None:
        """The first delimiter line of any open multipart starting at or after `pos`."""
        if self.truncated or not self.stack:
            return None
        frm = pos - 1 if pos > 0 else 0
        searched, dashes = self.dashes
        if not (searched <= frm and (dashes < 0 or dashes >= frm)):
            dashes = self.raw.find(b"\n--", frm)
            self.dashes = (frm, dashes)
        if dashes < 0:
            return None  # no line starts with "--" any more: nothing can delimit
        self.steps += len(self.stack)
        if self.steps > MAX_STEPS:
            self.truncated = True  # deep nesting times many parts: stop recognising structure
            return None
        best, level = -1, -1
        for i, boundary in enumerate(self.stack):  # outermost first: it bounds the others
            found = self.find(boundary, pos, self.size if best < 0 else best, dashes)
            if self.truncated:
                return None
            # same line: the longer boundary is the better match, then the inner multipart
            if found >= 0 and (found != best or len(boundary) >= len(self.stack[level])):
                best, level = found, i
        if best < 0:
            return None
        tail = best + 3 + len(self.stack[level])
        newline = self.raw.find(b"\n", tail)
        return _Delim(
            start=best - 1 if best > 0 and self.raw[best - 1] == 13 else best,
            at=best,
            level=level,
            close=self.raw.startswith(b"--", tail),
            after=self.size if newline < 0 else newline + 1,
        )

    def lines(self, start: int, end: int) -> int:
        """Lines in raw[start:end]; a last line without a line break still counts.

        Nested messages often end at the same byte and are finished inside-out, so the count
        of the inner range is reused for the outer one instead of counting it again.
        """
        if end <= start:
            return 0
        known = self.line_counts.get(end)
        if known is not None and known[0] >= start:
            count = self.raw.count(b"\n", start, known[0]) + known[1]
        else:
            count = self.raw.count(b"\n", start, end)
        self.line_counts[end] = (start, count)
        return count if self.raw[end - 1] == 10 else count + 1

    def entity(
        self,
        start: int,
        number: str = "",
        *,
        depth: int,
        message: str | None = None,
        default: ContentType | None = None,
    ) -> tuple[Node, _Delim | None, Fields]:
        """Parse the entity whose header begins at `start`.

        `message` is the part number of the message this entity is the whole of (its body
        node is numbered from it), None for a part inside a multipart. Returns the node, the
        delimiter that ends the entity (None: the end of the data) and the header fields.
        """
        raw = self.raw
        self.count += 1
        if self.count >= MAX_PARTS:
            self.truncated = True
        delim = self.next_delim(start)
        limit = max(delim.start, start) if delim else self.size
        hend = _header_end(raw, start, limit)
        scan_end = min(hend, start + MAX_HEADER_BYTES)
        fields = read_fields(raw, start, scan_end, message is not None)
        self.header_bytes += scan_end - start
        if self.header_bytes > HEADER_BUDGET:
            self.truncated = True
        ctype, subtype, params = _content_type(fields, default)
        if message is not None:
            number = message if ctype == "multipart" else _join(message, "1")
        node = _describe(number, ctype, subtype, params, fields)
        node["header"] = [start, hend - start]
        if ctype == "multipart":
            node["parts"] = []
            boundary = self._boundary(params, hend, delim) if depth < MAX_DEPTH else b""
            if boundary:
                delim = self.multipart(node, hend, boundary, depth)
        elif self._nests(node, depth):
            inner, delim, inner_fields = self.entity(hend, depth=depth + 1, message=number)
            node["message"] = {"envelope": envelope(inner_fields), "body": inner}
        end = max(delim.start, hend) if delim else self.size
        node["body"] = [hend, end - hend]
        node["size"] = end - hend
        if ctype == "text" or (ctype == "message" and subtype in _MESSAGE_TYPES):
            node["lines"] = self.lines(hend, end)
        return node, delim, fields

    @staticmethod
    def _nests(node: Node, depth: int) -> bool:
        """Whether a part holds a message we can parse in place: message/rfc822 or /global
        in an identity encoding (RFC 2046 §5.2.1 forbids others, but base64 occurs) and
        within MAX_DEPTH."""
        return (
            node["type"] == "message"
            and node["subtype"] in _MESSAGE_TYPES
            and node["encoding"] in _IDENTITY
            and depth < MAX_DEPTH
        )

    def multipart(self, node: Node, body: int, boundary: bytes, depth: int) -> _Delim | None:
        """Parse the parts of a multipart whose body starts at `body` into `node["parts"]`;
        returns the enclosing delimiter that ends it, after any epilogue."""
        self.stack.append(boundary)
        level = len(self.stack) - 1
        default: ContentType | None = None
        if node["subtype"] == "digest":
            default = ("message", "rfc822", [])  # RFC 2046 §5.1.5
        parts: list[Node] = node["parts"]
        delim = self.next_delim(body)  # everything before it is preamble
        while delim is not None and delim.level == level and not delim.close:
            number = _join(node["part"], str(len(parts) + 1))
            child, delim, _ = self.entity(delim.after, number, depth=depth + 1, default=default)
            parts.append(child)
        self.stack.pop()
        if delim is not None and delim.level == level:
            delim = self.next_delim(delim.after)  # skip the epilogue
        return delim

    def _boundary(self, params: Params, body: int, outer: _Delim | None) -> bytes:
        """The boundary as bytes, or b"" when unusable.

        Single-quoted boundaries (seen from old mailcomposer) and 8-bit ones whose header was
        read as Latin-1 are tried in the forms that actually occur in the body.
        """
        value = next((v for k, v in params if k == "boundary"), "").rstrip()
        if not value:
            return b""
        if value.isascii() and not (len(value) > 2 and value[0] == value[-1] == "'"):
            return value.encode("ascii")  # the one candidate below
        forms = [value]
        if len(value) > 2 and value[0] == value[-1] == "'":
            forms.append(value[1:-1])
        candidates: list[bytes] = []
        for form in forms:
            candidates.append(form.encode("utf-8"))
            try:
                candidates.append(form.encode("latin-1"))
            except UnicodeEncodeError:
                pass
        candidates = list(dict.fromkeys(candidates))
        if len(candidates) > 1:
            stop = outer.at if outer else self.size
            for candidate in candidates:
                if self.find(candidate, body, stop, 0) >= 0:
                    return candidate
        return candidates[0]


def _join(prefix: str, number: str) -> str:
    return f"{prefix}.{number}" if prefix else number


def _header_end(raw: bytes, start: int, limit: int) -> int:
    """End of the header block at `start`, including the empty line that closes it; `limit`
    when there is none (a header-only entity)."""
    if start >= limit:
        return limit
    if raw[start] == 10:
        return start + 1
    if raw.startswith(b"\r\n", start, limit):
        return start + 2
    newline = raw.find(b"\n", start, limit)
    # Search first for the blank line in the entity's own line-end style: the other search
    # is then bounded by the first hit instead of running through a large body.
    if newline > 0 and raw[newline - 1] == 13:
        first_needle, other = b"\n\r\n", b"\n\n"
    else:
        first_needle, other = b"\n\n", b"\n\r\n"
    found = raw.find(first_needle, start, limit)
    end = found + len(first_needle) if found >= 0 else limit
    earlier = raw.find(other, start, end)
    return earlier + len(other) if earlier >= 0 else end


def _content_type(fields: Fields, default: ContentType | None) -> ContentType:
    """Type, subtype and parameters, with the RFC 2045 §5.2 defaults.

    A type without subtype is taken as application/octet-stream (bare "text" as text/plain):
    keeping the parameters and offering the part as a download beats rendering binary data
    as text; an empty or absent value gets the default.
    """
    value = fields.get("content-type")
    token, params = parse_content_value(value) if value is not None else ("", [])
    ctype, _, subtype = token.partition("/")
    if len(token.split()) > 1:  # else neither half holds whitespace: each is its first word
        ctype = next(iter(ctype.split()), "")
        subtype = next(iter(subtype.split()), "")
    if ctype and subtype:
        return ctype, subtype, params
    if not ctype:
        if default is not None:
            return default[0], default[1], [list(p) for p in default[2]]
        return "text", "plain", [["charset", "us-ascii"]]
    if ctype == "text":
        return "text", "plain", params
    return "application", "octet-stream", params


def _describe(number: str, ctype: str, subtype: str, params: Params, fields: Fields) -> Node:
    """The BODYSTRUCTURE fields of one part that come from its MIME header."""
    get = fields.get
    encoding = get("content-transfer-encoding")
    words = encoding.upper().split() if encoding else None
    disposition = get("content-disposition")
    language = get("content-language")
    location = get("content-location")
    disp: list[Any] | None = None
    if disposition:
        dtype, dparams = parse_content_value(disposition)
        disp = [dtype, dparams] if dtype else None
    return {
        "part": number,
        "type": ctype,
        "subtype": subtype,
        "params": params,
        "id": get("content-id") or None,
        "description": get("content-description") or None,
        "encoding": words[0] if words else "7BIT",
        "md5": get("content-md5") or None,
        "disposition": disp,
        "language": _languages(language) if language else None,
        # RFC 2557 §4.4.3: unfold
        "location": "".join(location.split()) or None if location else None,
    }


def _languages(value: str | None) -> list[str] | None:
    """Content-Language (RFC 3282): a comma-separated list of tags."""
    tags = [t.strip() for t in (value or "").split(",")]
    return [t for t in tags if t] or None
