"""Header-level parsing: fields, RFC 2047 words, MIME parameters, text decoding.

Pure functions on values already cut out of the raw message by `parse.py`. Nothing here
raises on malformed input: delivery has to accept whatever the network hands over, so every
function degrades to a best-effort answer instead. Strings returned never contain lone
surrogates, because the store writes the parse result as UTF-8 JSON.
"""

from __future__ import annotations

import binascii
import calendar
import itertools
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_tz
from urllib.parse import unquote_to_bytes

Fields = dict[str, str]
Params = list[list[str]]

_BOM = b"\xef\xbb\xbf"
MAX_VALUE = 64 * 1024  # bytes kept of one field value
MIME_FIELDS = (
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "content-md5",
    "content-disposition",
    "content-language",
    "content-location",
)
ENVELOPE_FIELDS = (
    "date",
    "subject",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "in-reply-to",
    "message-id",
    "references",
)
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_SECTION = re.compile(r"([^*]+)\*(\d{1,3})?(\*)?")
_COMMENT = re.compile(r"\([^()]*\)")
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_GUESSED = ("", "us-ascii", "ascii", "us_ascii", "ansi_x3.4-1968")
_MISSING_SEMICOLON = re.compile(r"\s+[A-Za-z0-9*_.-]+\s*=")  # `a=b c=d`
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"?', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def decode_header_bytes(data: bytes) -> str:
    """Raw 8-bit header bytes to text: UTF-8 (RFC 6532) when valid, else Latin-1.

    Latin-1 cannot fail and keeps one character per byte, so legacy 8-bit headers stay
    readable instead of being dropped.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def header_text(data: bytes) -> str:
    """One raw header field value (as cut from the message, possibly folded) as display text:
    line breaks removed (RFC 5322 §2.2.3), raw 8-bit bytes decoded by `decode_header_bytes`
    (RFC 6532 UTF-8 first), then RFC 2047 encoded words decoded, whitespace runs collapsed.

    The one decoding every reader of header values shares (the JSON API's header list, IMAP
    SEARCH HEADER, Sieve-style filters), so an 8-bit UTF-8 Subject reads the same everywhere.
    """
    return " ".join(decode_words(decode_header_bytes(_LINE_BREAK.sub(b"", data))).split())


def split_fields(block: bytes, limit: int) -> list[tuple[str, bytes]]:
    """The fields of a raw header block in order, at most `limit`: (lower-case name, raw
    value bytes still folded). Lines that are neither a field nor a continuation (an mbox
    `From ` line, garbage) are skipped, as are continuations before the first field."""
    out: list[tuple[str, bytes]] = []
    for m in _FIELD.finditer(block):
        if len(out) >= limit:
            break
        out.append((m.group(1).decode("ascii").lower(), m.group(2)))
    return out


def read_fields(raw: bytes, start: int, end: int, message: bool) -> Fields:
    """The first occurrence of each field rmail uses, from the header block raw[start:end].

    `message` adds the envelope fields to the MIME ones. One regular-expression pass finds
    only the wanted names, so a hostile header of a million other lines costs C time, not
    Python time. Values are unfolded (RFC 5322 §2.2.3: only the line breaks go), decoded
    with `decode_header_bytes` and cut at MAX_VALUE bytes (References keeps its tail: the
    parent's id is last).
    """
    after_lf, at_start = _MESSAGE_FIELDS if message else _PART_FIELDS
    bom = len(_BOM) if raw.startswith(_BOM, start, end) else 0  # seen in the wild
    # (name, folded value) pairs in one C-level pass: a value never holds a "\n" followed by
    # a letter, so no wanted field can start inside one and consuming it skips nothing
    first_line = at_start.match(raw, start + bom, end)
    found = after_lf.findall(raw, start, end)
    fields: Fields = {}
    for raw_name, data in itertools.chain((first_line.groups(),), found) if first_line else found:
        name = _NAMES[raw_name]
        if name in fields:
            continue
        if len(data) > MAX_VALUE:
            data = data[-MAX_VALUE:] if name == "references" else data[:MAX_VALUE]
        if b"\n" in data:
            data = _LINE_BREAK.sub(b"", data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        fields[name] = text.strip(" \t\r\n")
    return fields


def _field_patterns(names: tuple[str, ...]) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    initials = "".join(sorted({c for n in names for c in (n[0], n[0].upper())}))
    name = f"({alternatives})[ \t]*:".encode() + _FOLDED_VALUE.pattern
    # A literal "\n" and a one-character lookahead let the engine skip other lines in C time.
    after_lf = b"\n(?=[" + initials.encode() + b"])" + name
    return re.compile(after_lf, re.IGNORECASE), re.compile(name, re.IGNORECASE)


_FOLDED_VALUE = re.compile(rb"([^\n]*(?:\n[ \t][^\n]*)*)")
_PART_FIELDS = _field_patterns(MIME_FIELDS)
_MESSAGE_FIELDS = _field_patterns(MIME_FIELDS + ENVELOPE_FIELDS)


class _Names(dict[bytes, str]):
    """A field name as written -> its lower-case name; the usual spellings are looked up at
    once, any other is lower-cased first."""

    def __missing__(self, key: bytes) -> str:
        return _LOWER_NAMES[key.lower()]  # a plain dict: KeyError, never recursion


_LOWER_NAMES = {name.encode(): name for name in MIME_FIELDS + ENVELOPE_FIELDS}


_NAMES = _Names(
    (spelling.encode(), name)
    for name in MIME_FIELDS + ENVELOPE_FIELDS
    for spelling in {name, name.title(), name.upper(), name.title().replace("-Id", "-ID"),
                     name.title().replace("-Md5", "-MD5")}
)
# RFC 5322 §3.6.8: field name = printable ASCII but ":"; WSP before the colon is tolerated.
_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)",
                    re.MULTILINE)
_LINE_BREAK = re.compile(rb"\r?\n")


def scrub(text: str) -> str:
    """Replace lone surrogates (some codecs emit them) so the text can be encoded as UTF-8."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def decode_text(data: bytes, charset: str | None, *, cut: bool = False) -> str:
    """Bytes in a declared charset to text, never failing.

    A missing, US-ASCII or unknown charset is read as UTF-8 when the bytes are valid UTF-8
    (undeclared UTF-8 is common) and as Windows-1252 otherwise, the legacy default that
    browsers also assume. `cut` says `data` is a prefix that may end inside a character.
    """
    name = (charset or "").strip().strip("\"'").lower()
    if name not in _GUESSED:
        try:
            return scrub(data.decode(name, "replace"))
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if cut and exc.reason == "unexpected end of data" and exc.end == len(data):
            return data[: exc.start].decode("utf-8")
        return data.decode("cp1252", "replace")


def _to_bytes(text: str, charset: str | None) -> bytes:
    """Text from a header back to bytes for charset decoding.

    Raw 8-bit octets inside an encoded word or RFC 2231 value reached us already decoded (as
    UTF-8 or Latin-1); re-encoding them in the declared charset makes the final decode an
    identity for them instead of mojibake.
    """
    if text.isascii():
        return text.encode("ascii")
    try:
        return text.encode(charset or "utf-8")
    except (LookupError, UnicodeError, ValueError, TypeError):
        return text.encode("utf-8", "replace")


def decode_base64(data: bytes) -> bytes:
    """Lenient base64: ignore junk characters, repair missing padding, never raise."""
    data = _BASE64_JUNK.sub(b"", data)
    if len(data) % 4 == 1:
        data = data[:-1]
    data += b"=" * (-len(data) % 4)
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return b""


_QP_LINE = re.compile(rb"([^\r\n]*)(\r?\n|\r|$)")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def decode_qp(data: bytes) -> bytes:
    """Quoted-printable body decoding (RFC 2045 §6.7): trailing spaces and tabs of each line
    are transport padding and go, a line ending in "=" (after that) is a soft break, `=XX`
    is a byte; anything else (a stray "=") is kept as it is. Line breaks come out as CRLF.
    Never raises."""
    out: list[bytes] = []
    for m in _QP_LINE.finditer(data):
        line, brk = m.group(1).rstrip(b" \t"), m.group(2)
        if not line and not brk:
            break
        soft = line.endswith(b"=")
        if soft:
            line = line[:-1]
        out.append(_QP_ESCAPE.sub(lambda e: bytes((int(e.group(1), 16),)), line)
                   if b"=" in line else line)
        if brk and not soft:
            out.append(b"\r\n")
        if not brk:
            break
    return b"".join(out)


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words anywhere in `value` (also inside quoted strings, as
    senders put them there despite §5).

    Adjacent words of one charset are joined before decoding so that a multi-byte character
    split across two words survives; whitespace between encoded words is dropped (§6.2).
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        gap = value[pos : m.start()]
        if not (pending and gap.strip() == ""):
            if pending:
                out.append(decode_text(b"".join(pending), pending_charset))
                pending = []
            out.append(gap)
        charset = m.group(1).split("*", 1)[0]  # RFC 2231 §5: charset*language
        text = _to_bytes(m.group(3), charset)
        is_b = m.group(2) in "bB"
        data = decode_base64(text) if is_b else binascii.a2b_qp(text, header=True)
        if pending and charset.lower() != pending_charset.lower():
            out.append(decode_text(b"".join(pending), pending_charset))
            pending = []
        pending.append(data)
        pending_charset = charset
        pos = m.end()
    if pending:
        out.append(decode_text(b"".join(pending), pending_charset))
    out.append(value[pos:])
    return "".join(out)


def parse_content_value(value: str) -> tuple[str, Params]:
    """Split a Content-Type/-Disposition value into its lower-cased token and parameters.

    Parameters keep their order, names are lower-cased, RFC 2231 sections are joined and
    decoded; RFC 2047 words inside values are left alone (callers decode where they display).
    """
    simple = _simple_content_value(value)
    return simple if simple is not None else _parse_content_value(value)


def _simple_content_value(value: str) -> tuple[str, Params] | None:
    """`parse_content_value` of the common shape below; None for any other."""
    m = _SIMPLE_CONTENT.fullmatch(value)
    if m is None:
        return None
    token, name, quoted, bare, rest = m.groups()
    if name is None:
        return token.strip().lower(), []
    params: Params = [[name.lower(), bare or quoted]]
    if rest:  # more than one parameter (else one match was all it took)
        seen = {params[0][0]}
        for name, quoted, bare in _SIMPLE_PARAM.findall(rest):
            name = name.lower()
            if name not in seen:  # the first of a repeated parameter wins, as below
                seen.add(name)
                params.append([name, bare or quoted])
    return token.strip().lower(), params


# `text/plain; charset="utf-8"; format=flowed`: a token without comments and plain
# `name=value` parameters (no RFC 2231 sections, escapes, comments or forgotten ";"), the
# shape of nearly every Content-Type and Content-Disposition. One match reads it; anything
# else takes `_parse_content_value`, with the same result (tests/mail/test_parse_fast.py).
_SIMPLE_PARAM_RE = r'[ \t]*([A-Za-z0-9_.-]+)=(?:"([^"\\\r\n]*)"|([^\s;"\\=()]+))[ \t]*'
_SIMPLE_PARAM = re.compile(";" + _SIMPLE_PARAM_RE)
_SIMPLE_CONTENT = re.compile(  # token, first parameter (3 groups), the other parameters
    rf'([^;()"\\]*)(?:;{_SIMPLE_PARAM_RE}((?:;{_SIMPLE_PARAM_RE.replace("([", "(?:[")})*))?'
    r";?[ \t]*")


def _parse_content_value(value: str) -> tuple[str, Params]:
    """`parse_content_value` of any value, by the general rules."""
    semi = value.find(";")
    head = value if semi < 0 else value[:semi]
    token = _COMMENT.sub("", head).strip().lower()
    if semi < 0:
        return token, []
    return token, _join_sections(_split_params(value, semi + 1))


def _split_params(value: str, pos: int) -> list[tuple[str, str]]:
    """`a=b; c="d;e"; f` after the token, as raw (name, value) pairs; unterminated quotes run
    to the end of the value."""
    params: list[tuple[str, str]] = []
    n = len(value)
    while pos < n:
        eq = value.find("=", pos)
        semi = value.find(";", pos)
        if eq < 0 or (0 <= semi < eq):
            pos = n if semi < 0 else semi + 1  # an attribute without value: skip it
            continue
        name = value[pos:eq].strip().lower()
        pos = eq + 1
        while pos < n and value[pos] in " \t\r\n":
            pos += 1
        quoted = _QUOTED.match(value, pos)
        if quoted:
            text = _QUOTED_PAIR.sub(r"\1", quoted.group(1))
            semi = value.find(";", quoted.end())
            m = _MISSING_SEMICOLON.match(value, quoted.end(), n if semi < 0 else semi)
            pos = m.start() if m else n if semi < 0 else semi + 1
        else:
            semi = value.find(";", pos)
            end = n if semi < 0 else semi
            m = _MISSING_SEMICOLON.search(value, pos, end)
            if m:  # `a=b c=d`: a forgotten ";" (RFC 2046's own example has one)
                end = m.start()
            text = value[pos:end].strip()
            pos = end if m else end + 1
        if name:
            params.append((name, text))
    return params


def _join_sections(raw: list[tuple[str, str]]) -> Params:
    """RFC 2231 §3-4: join `name*0*`, `name*1`, ... and decode `charset'lang'%xx` values.

    An extended parameter wins over a plain one of the same name; the result sits where the
    name first appeared.
    """
    order: list[str] = []
    plain: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    for name, value in raw:
        m = _SECTION.fullmatch(name)
        base = m.group(1) if m else name
        if base not in plain and base not in sections:
            order.append(base)
        if m is None:
            plain.setdefault(base, value)
        else:
            number = int(m.group(2)) if m.group(2) is not None else 0
            encoded = m.group(2) is None or m.group(3) is not None
            sections.setdefault(base, {}).setdefault(number, (value, encoded))
    out: Params = []
    for base in order:
        if base in sections:
            out.append([base, _decode_sections(sections[base])])
        else:
            out.append([base, plain[base]])
    return out


def _decode_sections(parts: dict[int, tuple[str, bool]]) -> str:
    charset: str | None = None
    chunks: list[bytes] = []
    for index, number in enumerate(sorted(parts)):
        text, encoded = parts[number]
        if encoded and index == 0 and text.count("'") >= 2:
            charset, _lang, text = text.split("'", 2)
        data = _to_bytes(text, charset)
        chunks.append(unquote_to_bytes(data) if encoded else data)
    return decode_text(b"".join(chunks), charset)


def param(params: Params | None, name: str) -> str | None:
    """Value of parameter `name` (already lower-case in `params`)."""
    for pname, value in params or ():
        if pname == name:
            return value
    return None


_MSG_ID = re.compile(r"<[^<>]*>")
_SIMPLE_MSG_ID = re.compile(r"<[^<>\s]*>")
_DATE_MAX = 256
_SUBJECT_MAX = 4096
_BLOB = r"\[[^\[\]]*\] *"
_LEADER = re.compile(rf"(?:{_BLOB})*(?:re|fwd?) *(?:{_BLOB})?:| +", re.IGNORECASE)
_BLOB_RE = re.compile(_BLOB)
_LEADING = " [rRfF"  # what a subj-leader, subj-blob or "[fwd:" wrapper starts with
_TRAILING = " )"  # what a subj-trailer ends with


def msg_ids(value: str | None) -> list[str]:
    """Every `<...>` message id in a References/In-Reply-To value, whitespace removed
    (folding sometimes lands inside long ids)."""
    if not value:
        return []
    return ["".join(m.group().split()) for m in _MSG_ID.finditer(value)]


def msg_id(value: str | None) -> str | None:
    """The first message id in `value`; a value without angle brackets is kept as written."""
    if value and _SIMPLE_MSG_ID.fullmatch(value):
        return value  # `<id@host>` alone, as nearly always: what the search below finds
    ids = msg_ids(value)
    if ids:
        return ids[0]
    value = (value or "").strip()
    return value or None


def parse_date(value: str | None) -> str | None:
    """An RFC 5322 date (obsolete forms included) as ISO 8601 with its UTC offset.

    A missing zone or `-0000` (§3.3: local time unknown) is reported as UTC.
    """
    if not value or len(value) > _DATE_MAX:
        return None
    return _usual_date(value) or _parse_date(value)


def _parse_date(value: str) -> str | None:
    """`parse_date` of any value, by the standard library's lenient parser."""
    try:
        t = parsedate_tz(value)
    except Exception:  # the stdlib raises assorted types on garbage; any failure means "no date"
        return None
    if t is None:
        return None
    try:
        zone = timezone(timedelta(seconds=t[9] or 0))
        return datetime(t[0], t[1], t[2], t[3], t[4], min(t[5], 59), tzinfo=zone).isoformat()
    except (ValueError, OverflowError, TypeError):
        return None


# `Mon, 1 Jan 2024 10:00:00 +0000`, possibly followed by a comment such as `(UTC)`: nearly
# every Date header. One match and a format string instead of `parsedate_tz` and `datetime`
# (4 of the 42 us a 4 KB delivery's parse took); `_parse_date` gives the same string for the
# same text (tests/mail/test_parse_fast.py) and has the last word on anything else,
# out-of-range fields included.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# (month name, day as written) -> "MM-DD" for every day that month can have
_MONTH_DAY = {
    (name, written): f"{number:02d}-{day:02d}"
    for number, (name, days) in enumerate(zip(_MONTHS, _MONTH_DAYS, strict=True), 1)
    for day in range(1, days + 1)
    for written in {str(day), f"{day:02d}"}
}
_USUAL_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) (" + "|".join(_MONTHS) + r") "
    r"([1-9][0-9]{3}) ((?:[01][0-9]|2[0-3]):[0-5][0-9])(?::([0-9]{2}))? ([+-][0-9]{4})"
    r"(?:[ \t][^\r\n]*)?", re.ASCII)
_OFFSETS: dict[str, str] = {}  # "+0100" -> "+01:00", "" when beyond a day


def _usual_date(value: str) -> str | None:
    """`parse_date(value)` for the usual shape of a valid Date header, None for any other."""
    m = _USUAL_DATE.fullmatch(value)
    if m is None:
        return None
    day, month, year, time, second, zone = m.groups()
    date = _MONTH_DAY.get((month, day))
    if date is None or (date == "02-29" and not calendar.isleap(int(year))):
        return None
    offset = _OFFSETS.get(zone)
    if offset is None:
        offset = _offset(zone)
        if len(_OFFSETS) < 4096:
            _OFFSETS[zone] = offset
    if not offset:
        return None
    if second is None:
        second = "00"
    elif second > "59":
        second = "59"  # leap seconds and worse are clamped, as `_parse_date` does
    return f"{year}-{date}T{time}:{second}{offset}"


def _offset(zone: str) -> str:
    """`+hhmm` as isoformat writes the offset `parsedate_tz` makes of it ("" if invalid)."""
    minutes = int(zone[1:3]) * 60 + int(zone[3:])  # "+0160" is two hours, as parsedate_tz has
    if minutes >= 24 * 60:
        return ""
    return f"{'-' if zone[0] == '-' and minutes else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def _plain_subject(s: str) -> bool:
    """Whether no trailer, leader, blob or "[fwd:" wrapper can match the collapsed subject
    `s`, so that `base_subject` keeps all of it (most subjects: no loop needed)."""
    return not s or (s[0] not in _LEADING and s[-1] not in _TRAILING)


def base_subject(subject: str) -> str:
    """RFC 5256 §2.1 base subject of an already decoded subject, for THREAD and SORT.

    Works with indexes rather than slicing so a hostile "Re: Re: Re: ..." stays linear; input
    beyond 4096 characters is ignored.
    """
    s = " ".join(subject.split())[:_SUBJECT_MAX]  # step 1: unfold, collapse whitespace
    if _plain_subject(s):
        return s
    low = s.lower()
    start, end = 0, len(s)
    while True:
        while end > start:  # step 2: subj-trailer "(fwd)" or WSP
            if s[end - 1] == " ":
                end -= 1
            elif low.endswith("(fwd)", start, end):
                end -= 5
            else:
                break
        while True:  # steps 3-5: subj-leader, then a subj-blob that leaves something behind
            m = _LEADER.match(s, start, end)
            if m and m.end() > start:
                start = m.end()
                continue
            m = _BLOB_RE.match(s, start, end)
            if m and start < m.end() < end:
                start = m.end()
                continue
            break
        # step 6: "[fwd: ... ]" wrapper, then back to step 2
        if end - start >= 6 and low.startswith("[fwd:", start, end) and s[end - 1] == "]":
            start, end = start + 5, end - 1
            continue
        return s[start:end]
