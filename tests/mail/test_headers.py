"""Header-level helpers: fields, RFC 2047/2231 decoding, addresses, base subject, dates."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmail.mail.addresses import parse_addresses, summary_addresses
from rmail.mail.headers import (
    MAX_VALUE,
    base_subject,
    decode_text,
    decode_words,
    msg_ids,
    parse_content_value,
    parse_date,
    read_fields,
)


def fields(raw: bytes, message: bool = True) -> dict[str, str]:
    return read_fields(raw, 0, len(raw), message)


def test_read_fields_first_occurrence_folding_and_case() -> None:
    raw = (
        b"\xef\xbb\xbfSubject: first\r\n"
        b"X-Other: ignored\r\n"
        b"SUBJECT: second\r\n"
        b"To: a@example.com,\r\n"
        b"\t b@example.com\r\n"
        b"content-type : text/plain;\r\n charset=utf-8\r\n"
        b"From - not a field\r\n"
        b"From: J\xc3\xb6rg <j@example.com>\r\n"
        b"Cc: J\xf6rg <j@example.com>\r\n"
        b"\r\n"
    )
    got = fields(raw)
    assert got == {
        "subject": "first",
        "to": "a@example.com,\t b@example.com",
        "content-type": "text/plain; charset=utf-8",
        "from": "Jörg <j@example.com>",  # 8-bit UTF-8 (RFC 6532)
        "cc": "Jörg <j@example.com>",  # 8-bit Latin-1 fallback
    }
    assert fields(raw, message=False) == {"content-type": "text/plain; charset=utf-8"}


def test_read_fields_caps_values_and_keeps_the_tail_of_references() -> None:
    ids = b" ".join(b"<%d@example.com>" % i for i in range(MAX_VALUE // 10))
    got = fields(b"References: " + ids + b"\nSubject: " + b"x" * (2 * MAX_VALUE) + b"\n\n")
    assert got["references"].endswith(f"<{MAX_VALUE // 10 - 1}@example.com>")
    assert len(got["references"]) <= MAX_VALUE
    assert MAX_VALUE - 1 <= len(got["subject"]) <= MAX_VALUE  # the leading space is stripped


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("=?iso-8859-1?q?Andr=E9?= Pirard", "André Pirard"),
        (  # RFC 2047 §8, two charsets
            "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?="
            " =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
            "If you can read this you understand the example.",
        ),
        ("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"),  # RFC 2047 §8
        ("(=?ISO-8859-1?Q?a?=  \t =?ISO-8859-1?Q?b?=)", "(ab)"),
        ("(=?ISO-8859-1?Q?a_b?=)", "(a b)"),
        ("=?utf-8?q?=E2=9C?= =?utf-8?q?=94?=", "✔"),  # a character split across two words
        ("=?utf-8*en?q?hi?=", "hi"),  # RFC 2231 §5 language suffix
        ("=?x-unknown?q?plain?=", "plain"),
        ("=?utf-8?b?aGk!?=", "hi"),  # junk in base64 is skipped
        ("no words here", "no words here"),
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
    ],
)
def test_decode_words(encoded: str, decoded: str) -> None:
    assert decode_words(encoded) == decoded


def test_decode_text_fallbacks() -> None:
    assert decode_text("é".encode(), None) == "é"
    assert decode_text(b"caf\xe9", "us-ascii") == "café"  # undeclared legacy 8-bit: cp1252
    assert decode_text(b"caf\xe9", "bad-charset") == "café"
    assert decode_text("日本".encode("shift_jis"), "shift_jis") == "日本"
    assert decode_text("é".encode() + b"\xe6\x97", "us-ascii", cut=True) == "é"
    assert decode_text(b"\xff\xfe", "utf-8") == "\ufffd\ufffd"
    assert decode_text(b"+2D8-", "utf-7").encode("utf-8")  # lone surrogates are replaced


def test_parse_content_value() -> None:
    assert parse_content_value('TEXT/Plain (comment); CHARSET="us-ascii"; format=flowed') == (
        "text/plain",
        [["charset", "us-ascii"], ["format", "flowed"]],
    )
    assert parse_content_value("attachment;\tfilename=a.pdf;") == (
        "attachment",
        [["filename", "a.pdf"]],
    )
    # RFC 2046 §5.2.3.7 example: a forgotten ";" between parameters
    assert parse_content_value('message/external-body; access-type=mail-server server="x@y"')[
        1
    ] == [["access-type", "mail-server"], ["server", "x@y"]]
    assert parse_content_value("text/plain; name=My File.pdf")[1] == [["name", "My File.pdf"]]
    assert parse_content_value('a/b; q="un\\"terminated')[1] == [["q", 'un"terminated']]
    assert parse_content_value("")[0] == ""


def test_rfc2231_parameters() -> None:
    value = (
        "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20;"
        ' title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2="isn\'t it!"; other=x'
    )
    assert parse_content_value(value)[1] == [
        ["title", "This is even more ***fun*** isn't it!"],
        ["other", "x"],
    ]
    assert parse_content_value("a/b; name=plain.txt; name*=utf-8''%E2%9C%94.txt")[1] == [
        ["name", "✔.txt"]
    ]
    assert parse_content_value("a/b; name*1=second; name*0=first")[1] == [["name", "firstsecond"]]
    assert parse_content_value("a/b; name*=no-quotes%41")[1] == [["name", "no-quotesA"]]
    assert parse_content_value("a/b; name*=x-bogus''%E9t%E9")[1] == [["name", "été"]]


def test_addresses() -> None:
    assert parse_addresses(None) is None
    assert parse_addresses("  ") is None
    assert parse_addresses("Undisclosed recipients:;") == [
        [None, None, "Undisclosed recipients", None],
        [None, None, None, None],
    ]
    assert parse_addresses("group: a@b.example") == [
        [None, None, "group", None],
        [None, None, "a", "b.example"],
        [None, None, None, None],
    ]
    assert parse_addresses("John Q. Public <john.q.public(dot) @ example.com>") == [
        ["John Q. Public", None, "john.q.public", "example.com"]
    ]
    assert parse_addresses('"Last, First" <lf@x.example>, (only comment) c@x.example') == [
        ["Last, First", None, "lf", "x.example"],
        ["only comment", None, "c", "x.example"],
    ]
    assert parse_addresses("<>") == [[None, None, None, ""]]
    assert parse_addresses('"spaced local"@x.example') == [
        [None, None, '"spaced local"', "x.example"]
    ]
    assert summary_addresses(parse_addresses("=?utf-8?q?J=C3=B6rg?= <j@x.example>, g:;")) == [
        {"name": "Jörg", "address": "j@x.example"}
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_addresses_never_raise(value: str) -> None:
    for address in parse_addresses(value) or []:
        assert len(address) == 4
    summary_addresses(parse_addresses(value))


@pytest.mark.parametrize(
    ("subject", "base"),
    [
        ("Re: test", "test"),
        ("re: Re: RE: test", "test"),
        ("Fwd: [list] Re: test (fwd)", "test"),
        ("[fwd: Re: test]", "test"),
        ("[list] test", "test"),
        ("[just a blob]", "[just a blob]"),
        ("Re [x]: test", "test"),
        ("  spaced\t out  ", "spaced out"),
        ("Re:", ""),
        ("", ""),
        ("(fwd) (fwd)", ""),
        ("Fw: Fwd: FWD: x", "x"),
    ],
)
def test_base_subject(subject: str, base: str) -> None:
    assert base_subject(subject) == base


def test_base_subject_is_linear_on_hostile_input() -> None:
    assert base_subject("Re: " * 200_000 + "x") == ""  # beyond 4096 characters: cut
    assert base_subject("[a]" * 200_000) == "["  # blobs go while something remains


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("Fri, 19 May 2000 10:26:12 -0400 (EDT)", "2000-05-19T10:26:12-04:00"),
        ("23 Oct 2003 23:28:34 -0700", "2003-10-23T23:28:34-07:00"),
        ("Sun, 7 May 95 16:21:03 GMT", "1995-05-07T16:21:03+00:00"),
        ("Thu, 8 Mar 2005 17:40:36 EDT", "2005-03-08T17:40:36-04:00"),
        ("Mon, 1 Jan 2024 00:00:00 -0000", "2024-01-01T00:00:00+00:00"),
        ("Wed, 31 Dec 2016 23:59:60 +0000", "2016-12-31T23:59:59+00:00"),
        ("yesterday", None),
        ("Mon, 1 Jan 2024 00:00:00 +9999", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(value: str | None, iso: str | None) -> None:
    assert parse_date(value) == iso


def test_msg_ids() -> None:
    assert msg_ids("<a@b> junk <c\r\n @d>") == ["<a@b>", "<c@d>"]
    assert msg_ids(None) == []
