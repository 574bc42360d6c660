"""The parse fast paths give byte-identical meta records.

`parse_meta` (the record every append stores) reads the common shapes of Content-Type values,
Date headers, Message-IDs, subjects and addresses with one match each and falls back to the
general rules for anything else; header fields come from one `findall` pass. Three proofs:

* every shared fixture file gives the same bytes as main did before the fast paths
  (`parse_meta_pinned.json`: sha256 of each input and of its record);
* generated messages (folded lines, odd dates, encoded words, odd parameters, 8-bit bytes,
  missing headers, CRLF and LF) give the same record with the fast paths switched off;
* each fast path against its general twin, and `read_fields` against the loop it replaced.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.parse import ALTERNATIVE, ATTACHMENT
from bench.store import make_message
from rmail.mail import addresses, headers
from rmail.mail.headers import (
    ENVELOPE_FIELDS,
    MAX_VALUE,
    MIME_FIELDS,
    _parse_content_value,
    _parse_date,
    _simple_content_value,
    _usual_date,
    base_subject,
    msg_id,
    msg_ids,
    parse_content_value,
    parse_date,
    read_fields,
)
from rmail.mail.summary import collapsed_prefix
from rmail.store.groupcommit import parse_meta
from tests.mimefixtures import MIME_FIXTURES

FIXTURES = MIME_FIXTURES.parent  # every kind: mime, imip, ical, vcard
PINNED = Path(__file__).with_name("parse_meta_pinned.json")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


@contextmanager
def general_paths() -> Iterator[None]:
    """Every fast path declines, so each value takes the general rules."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(addresses, "_simple_addresses", lambda value: None)
        mp.setattr(headers, "_simple_content_value", lambda value: None)
        mp.setattr(headers, "_usual_date", lambda value: None)
        mp.setattr(headers, "_SIMPLE_MSG_ID", re.compile(r"(?!)"))
        mp.setattr(headers, "_plain_subject", lambda s: False)
        yield


def general_meta(raw: bytes) -> bytes | None:
    with general_paths():
        return parse_meta(raw)


def same_meta(raw: bytes) -> None:
    fast = parse_meta(raw)
    assert fast is not None, raw
    assert fast == general_meta(raw), raw


# -- the shared fixtures, against main's records --


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"shared fixtures not found at {FIXTURES}")
def test_fixtures_give_the_records_main_gave() -> None:
    pinned = json.loads(PINNED.read_text())["files"]
    checked = 0
    for path in sorted(p for p in FIXTURES.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        name = path.relative_to(FIXTURES).as_posix()
        meta = parse_meta(raw)
        assert meta is not None, name
        assert meta == general_meta(raw), name
        if name in pinned and pinned[name][0] == digest(raw):  # a changed fixture: skip pin
            assert digest(meta) == pinned[name][1], name
            checked += 1
    assert checked >= 40, f"only {checked} fixtures matched the pinned list"


# -- generated messages, fast paths against general paths --

NAMES = ["From", "from", "FROM ", "To", "Cc", "Reply-To", "Sender", "Subject", "Date", "date",
         "Message-ID", "In-Reply-To", "References", "Content-Type", "content-type",
         "Content-Transfer-Encoding", "Content-Disposition", "X-Other", "MIME-Version"]
VALUES = {
    "address": ["Alice Example <alice@example.com>", "<bench@example.com>", "a@b", "a@b, c@d",
                '"Doe, John" <j@x.example>', "Bob (the builder) <b@x>", "undisclosed:;",
                "=?utf-8?q?J=C3=BCrg?= <j@x>", "Ünïcode <u@x>", "<>", "", "a@b,,c@d"],
    "date": ["Mon, 01 Jan 2024 10:00:00 +0000", "1 Jan 2024 10:00 -0000",
             "Tue, 14 Nov 2023 09:12:33 +0100 (CET)", "Thu, 29 Feb 2023 12:00:00 +0000",
             "Sat, 31 Dec 1999 23:59:60 -0130", "Mon, 01 Jan 24 10:00:00 GMT", "garbage",
             "Mon,01 Jan 2024 10:00:00 +0000", "Mon, 1 January 2024 10:00:00 +0000",
             "Mon, 01 Jan 2024 24:00:00 +0000", "Mon, 01 Jan 2024 10:00:00 +2400",
             "Mon, 01 Jan 2024 10:00:00 EST", "01 Jan 2024 10:00:00 +0160", ""],
    "subject": ["benchmark message 1", "Re: [list] Fwd: hello (fwd)", "=?utf-8?b?w7w=?= x",
                "=?iso-8859-1?q?caf=E9?= =?iso-8859-1?q?_au_lait?=", "  spaced  out ",
                "[fwd: inner]", "rE: r", "Grüße", ""],
    "msgid": ["<1.2@example.com>", "< spaced@id >", "<a@b> <c@d>", "no-brackets", "<>", ""],
    "ctype": ["text/plain; charset=utf-8", 'text/plain; charset="UTF-8"; format=flowed',
              "text/html;charset=iso-8859-1", "TEXT/PLAIN", "text", "text/plain;",
              "text/plain; charset=utf-8 format=flowed", "text/plain (comment); a=b",
              "text/plain; name*=utf-8''%C3%BC.txt", 'text/plain; name="a\\"b"',
              "text/plain; charset=a; charset=b", 'text/plain; a="x;y"', "text/plain; =x",
              "application/pdf; name=\"r.pdf\"", "image/png; name = x.png", ""],
    "disposition": ['attachment; filename="r.pdf"', "inline", "attachment; filename=a b",
                    "attachment; filename*0=a; filename*1=b", "INLINE; Size=12", ""],
    "encoding": ["7bit", "base64", "quoted-printable", " 8BIT ", "x-uue", ""],
    "other": ["1.0", "x", ""],
}
KIND = {"from": "address", "to": "address", "cc": "address", "reply-to": "address",
        "sender": "address", "subject": "subject", "date": "date", "message-id": "msgid",
        "in-reply-to": "msgid", "references": "msgid", "content-type": "ctype",
        "content-transfer-encoding": "encoding", "content-disposition": "disposition"}
BODIES = [b"Hello there.\n" * 5, "Grüße, café\n".encode(), "caf\xe9\n".encode("latin-1"),
          b"aGVsbG8gd29ybGQ=\n", b"=48=65llo=\nworld\n", b"<p>Hi <b>you</b></p>\n", b""]


@st.composite
def header_lines(draw: st.DrawFn) -> bytes:
    """One field: a name, a value of its kind, possibly folded, possibly 8-bit."""
    name = draw(st.sampled_from(NAMES))
    value = draw(st.sampled_from(VALUES[KIND.get(name.strip().lower(), "other")]))
    if draw(st.booleans()) and " " in value:
        cut = value.index(" ")
        value = value[:cut] + draw(st.sampled_from(["\r\n ", "\n\t", "\r\n\t  "])) + value[cut:]
    data = value.encode(draw(st.sampled_from(["utf-8", "latin-1"])), "replace")
    return name.encode() + draw(st.sampled_from([b": ", b":", b" :  "])) + data


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    fields = draw(st.lists(header_lines(), max_size=12))
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    body = draw(st.sampled_from(BODIES)).replace(b"\n", eol)
    if draw(st.booleans()):  # a multipart body whose parts carry the same kinds of header
        parts = draw(st.lists(st.lists(header_lines(), max_size=4), min_size=1, max_size=3))
        subtype = draw(st.sampled_from([b"mixed", b"alternative", b"digest"]))
        fields.append(b'Content-Type: multipart/' + subtype + b'; boundary="b1"')
        body = b"".join(b"--b1" + eol + eol.join(p) + eol + eol + body for p in parts)
        if draw(st.booleans()):  # and an attached message with headers of its own
            inner = draw(st.lists(header_lines(), max_size=8))
            body += (b"--b1" + eol + b"Content-Type: message/rfc822" + eol + eol
                     + eol.join(inner) + eol + eol + draw(st.sampled_from(BODIES)))
        body += b"--b1--" + eol
    return eol.join(fields) + eol + eol + body


@given(messages())
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_messages_give_the_same_record(raw: bytes) -> None:
    same_meta(raw)


def test_typical_messages_give_the_same_record() -> None:
    for raw in TYPICAL:
        same_meta(raw)
        same_meta(raw.replace(b"\r\n", b"\n"))


# -- each fast path against its general twin --

CT_PIECES = ["text/plain", "multipart/mixed", "TEXT/HTML", ";", " ", "\t", "charset", "=",
             '"', "utf-8", "UTF-8", "name", "*", "*0", "''", "%C3%BC", "(c)", "\\", "a b",
             "x;y", "\r", "ü", "format=flowed"]


@given(st.lists(st.sampled_from(CT_PIECES), max_size=14).map("".join))
@settings(max_examples=3000, deadline=None)
def test_content_values_parse_alike(value: str) -> None:
    assert parse_content_value(value) == _parse_content_value(value), value


@given(st.text(max_size=40))
@settings(max_examples=1000, deadline=None)
def test_any_content_value_parses_alike(value: str) -> None:
    assert parse_content_value(value) == _parse_content_value(value), value


DATE_PIECES = ["Mon, ", "Sun, ", "mon, ", "1", "01", "29", "31", "00", " ", "  ", "\t", "Jan",
               "Feb", "Apr", "jan", "2024", "2023", "1900", "0999", "24", ":", "00", "59",
               "60", "99", "23", " +0000", " -0000", " +0130", " -2359", " +2400", " +0099",
               " GMT", " (UTC)", "\r", ","]


@given(st.lists(st.sampled_from(DATE_PIECES), max_size=14).map("".join))
@settings(max_examples=3000, deadline=None)
def test_dates_parse_alike(value: str) -> None:
    assert parse_date(value) == _parse_date(value), value


@given(st.builds(
    "{}{} {} {} {}:{}{} {}{}".format,
    st.sampled_from(["", "Mon, ", "Fri, "]), st.integers(0, 39),
    st.sampled_from(["Jan", "Feb", "Apr", "Dec"]), st.integers(1000, 9999),
    st.integers(0, 29).map("{:02d}".format), st.integers(0, 99).map("{:02d}".format),
    st.sampled_from(["", ":00", ":59", ":60", ":99"]), st.sampled_from("+-"),
    st.integers(0, 9999).map("{:04d}".format)))
@settings(max_examples=3000, deadline=None)
def test_well_formed_dates_parse_alike(value: str) -> None:
    assert parse_date(value) == _parse_date(value), value


@given(st.text(max_size=30) | st.sampled_from(VALUES["msgid"]))
@settings(max_examples=1000, deadline=None)
def test_message_ids_read_alike(value: str) -> None:
    ids = msg_ids(value)
    assert msg_id(value) == (ids[0] if ids else (value.strip() or None)), value


@given(st.lists(st.sampled_from(["Re", "re", "Fwd", "fw", ":", " ", "[x]", "[fwd:", "]",
                                 "(fwd)", "(", ")", "a", "Grüße", "\t"]),
                max_size=10).map("".join))
@settings(max_examples=2000, deadline=None)
def test_subjects_reduce_alike(subject: str) -> None:
    fast = base_subject(subject)
    with general_paths():
        assert fast == base_subject(subject), subject


@given(st.text(alphabet=st.sampled_from("ab \t\r\n\x0b\xa0\u2003é"), max_size=900),
       st.integers(0, 300))
@settings(max_examples=1000, deadline=None)
def test_collapsed_prefix_is_the_prefix_of_the_collapsed_text(text: str, n: int) -> None:
    assert collapsed_prefix(text, n) == " ".join(text.split())[:n]


def test_shapes_that_take_the_quick_paths() -> None:
    assert _simple_content_value('text/plain; charset="utf-8"; format=flowed') == (
        "text/plain", [["charset", "utf-8"], ["format", "flowed"]])
    assert _simple_content_value("Multipart/Alternative; Boundary=b1") == (
        "multipart/alternative", [["boundary", "b1"]])
    assert _simple_content_value('attachment; filename="report.pdf"') == (
        "attachment", [["filename", "report.pdf"]])
    assert _simple_content_value("text/plain; name*=utf-8''%C3%BC") is None
    assert _simple_content_value("text/plain; charset=utf-8 format=flowed") is None
    assert _usual_date("Mon, 01 Jan 2024 10:00:00 +0000") == "2024-01-01T10:00:00+00:00"
    assert _usual_date("Tue, 14 Nov 2023 09:12:33 -0130 (X)") == "2023-11-14T09:12:33-01:30"
    assert _usual_date("Mon, 01 Jan 24 10:00:00 GMT") is None
    assert _usual_date("Thu, 29 Feb 2023 12:00:00 +0000") is None  # left to the general path


# -- read_fields against the loop it replaced --


def previous_read_fields(raw: bytes, start: int, end: int, message: bool) -> dict[str, str]:
    """`read_fields` as main had it before the one-pass `findall` (8d929de), without the
    lookahead that only made it faster."""
    names = MIME_FIELDS + ENVELOPE_FIELDS if message else MIME_FIELDS
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    name_re = f"({alternatives})[ \t]*:".encode()
    after_lf, at_start = re.compile(b"\n" + name_re, re.I), re.compile(name_re, re.I)
    bom = 3 if raw.startswith(b"\xef\xbb\xbf", start, end) else 0
    first_line = at_start.match(raw, start + bom, end)
    fields: dict[str, str] = {}
    for m in itertools.chain([first_line] if first_line else [],
                             after_lf.finditer(raw, start, end)):
        name = m.group(1).decode("ascii").lower()
        if name in fields:
            continue
        value = re.compile(rb"[^\n]*(?:\n[ \t][^\n]*)*").match(raw, m.end(), end)
        vstart, vend = value.span() if value else (m.end(), m.end())
        if vend - vstart > MAX_VALUE:
            if name == "references":
                vstart = vend - MAX_VALUE
            else:
                vend = vstart + MAX_VALUE
        fields[name] = headers.decode_header_bytes(
            re.sub(rb"\r?\n", b"", raw[vstart:vend])).strip(" \t\r\n")
    return fields


@given(messages(), st.booleans(), st.booleans(), st.integers(0, 40))
@settings(max_examples=1500, deadline=None)
def test_read_fields_reads_what_the_previous_loop_read(
    raw: bytes, message: bool, bom: bool, cut: int
) -> None:
    raw = (b"\xef\xbb\xbf" if bom else b"") + raw
    end = max(0, len(raw) - cut)
    assert read_fields(raw, 0, end, message) == previous_read_fields(raw, 0, end, message)


def test_read_fields_cuts_long_values_as_before() -> None:
    long = b"x" * (MAX_VALUE + 10)
    raw = (b"Subject: " + long + b"\r\nReferences: <a@b>\r\n " + long + b"<z@y>\r\n"
           b"To: " + b"y" * MAX_VALUE + b"\n\t" + long + b"\r\n\r\n")
    fields = read_fields(raw, 0, len(raw), True)
    assert fields == previous_read_fields(raw, 0, len(raw), True)
    assert fields["references"].endswith("<z@y>")
    assert len(fields["subject"]) == MAX_VALUE - 1  # the cut counts the space after ":"


# -- typical messages: the shapes the speed-up is for (those bench/parse.py times) --

TYPICAL = [make_message(1), ALTERNATIVE, ATTACHMENT]
