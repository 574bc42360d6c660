"""parse_message: MIME structure and byte offsets, envelopes, summaries, limits, fuzzing."""

from __future__ import annotations

import base64
import binascii
import email
import email.message
import email.policy
import json
import os
import quopri
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmail.mail.parse import FORMAT_VERSION, MAX_DEPTH, MAX_PARTS, parse_message
from rmail.mail.summary import collapsed_prefix

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "mime"
FIXTURE_FILES = sorted(FIXTURES.glob("*.eml")) if FIXTURES.is_dir() else []
needs_fixtures = pytest.mark.skipif(
    not FIXTURE_FILES, reason=f"shared MIME fixtures not found at {FIXTURES}"
)
Node = dict[str, Any]


# -- helpers --


def fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"fixture {name} not found in {FIXTURES}")
    return path.read_bytes()


def nodes(node: Node) -> Iterator[Node]:
    """Every node of a body tree, embedded messages included, in order."""
    yield node
    for child in node.get("parts", ()):
        yield from nodes(child)
    if "message" in node:
        yield from nodes(node["message"]["body"])


def by_part(result: dict[str, Any]) -> dict[str, Node]:
    """Part number -> node; a message's multipart body shares its number with the message
    part, and the message/rfc822 node wins, as it is what BODY[n] addresses."""
    table: dict[str, Node] = {}
    for node in nodes(result["body"]):
        table.setdefault(node["part"], node)
    return table


def body(raw: bytes, node: Node) -> bytes:
    start, length = node["body"]
    return raw[start : start + length]


def header(raw: bytes, node: Node) -> bytes:
    start, length = node["header"]
    return raw[start : start + length]


def check(raw: bytes, result: dict[str, Any]) -> None:
    """Invariants every parse result must satisfy, whatever the input."""
    assert result["version"] == FORMAT_VERSION
    assert result["size"] == len(raw)
    assert json.loads(json.dumps(result)) == result
    json.dumps(result, ensure_ascii=False).encode("utf-8")  # the store writes UTF-8 JSON
    top = result["body"]
    assert top["header"][0] == 0
    assert top["body"][0] + top["body"][1] == len(raw)
    assert top["part"] in ("", "1")
    _check_node(top, 0, len(raw))
    summary = result["summary"]
    assert isinstance(summary["subject"], str) and isinstance(summary["intro"], str)
    assert summary["has_attachments"] == any(not a["inline"] for a in summary["attachments"])


def _check_node(node: Node, lo: int, hi: int) -> None:
    hstart, hlen = node["header"]
    bstart, blen = node["body"]
    assert lo <= hstart and hlen >= 0 and blen >= 0
    assert hstart + hlen == bstart, node["part"]
    assert bstart + blen <= hi, node["part"]
    assert node["size"] == blen
    assert node["type"] and node["subtype"] and node["type"] == node["type"].lower()
    assert ("parts" in node) == (node["type"] == "multipart")
    has_lines = node["type"] == "text" or (
        node["type"] == "message" and node["subtype"] in ("rfc822", "global")
    )
    assert ("lines" in node) == has_lines
    end = bstart + blen
    cursor = bstart
    for i, child in enumerate(node.get("parts", ()), 1):
        prefix = f"{node['part']}." if node["part"] else ""
        assert child["part"] == f"{prefix}{i}"
        assert child["header"][0] >= cursor
        _check_node(child, bstart, end)
        cursor = child["body"][0] + child["body"][1]
    if "message" in node:
        inner = node["message"]["body"]
        assert inner["header"][0] == bstart
        assert inner["body"][0] + inner["body"][1] == end
        expected = node["part"] if inner["type"] == "multipart" else f"{node['part']}.1"
        assert inner["part"] == expected
        _check_node(inner, bstart, end)


def leaves_in_multiparts(node: Node, boundaries: tuple[bytes, ...] = ()) -> Iterator[Any]:
    """(leaf, boundaries of the enclosing multiparts) for leaves inside a multipart."""
    if node["type"] == "multipart":
        value = next((v for k, v in node["params"] if k == "boundary"), "")
        inner = (*boundaries, value.strip("'").encode())
        for child in node["parts"]:
            yield from leaves_in_multiparts(child, inner)
    elif "message" in node:
        yield from leaves_in_multiparts(node["message"]["body"], boundaries)
    elif boundaries:
        yield node, boundaries


def check_leaf_contents(raw: bytes, result: dict[str, Any]) -> None:
    """Each leaf's body is exactly its content: it holds no delimiter line of an enclosing
    multipart and is followed by the end of the data or by CRLF/LF and a delimiter."""
    for leaf, boundaries in leaves_in_multiparts(result["body"]):
        content = body(raw, leaf)
        end = leaf["body"][0] + leaf["body"][1]
        for b in boundaries:
            assert b"\n--" + b not in content, leaf["part"]
        if end == len(raw):
            continue
        following = raw[end : end + 2 + 2 + max(map(len, boundaries))]
        assert any(re.match(rb"(\r\n|\n)--" + re.escape(b), following) for b in boundaries), (
            leaf["part"],
            following,
        )


# -- the shared fixture corpus --


@needs_fixtures
@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_structure(path: Path) -> None:
    raw = path.read_bytes()
    result = parse_message(raw)
    check(raw, result)
    check_leaf_contents(raw, result)


# Fixtures where the stdlib parser reads the structure differently on purpose: BOM before the
# header, message/* types it treats as containers, an unterminated inner multipart, prefix
# boundaries, missing close delimiter at EOF, single-quoted boundary.
STDLIB_DIFFERS = {
    "arf-feedback-report_utf8-bom.eml",
    "base64-encoded-message-rfc822.eml",
    "dsn_amazon-ses_multipart-report.eml",
    "empty-nested-multipart-alternative.eml",
    "mdn_disposition-notification.eml",
    "overlong-nested-boundaries.eml",
    "rfc2046_message-external-body.eml",
    "two-message-rfc822-parts_single-quoted-boundary.eml",
    "utf-16-and-binary-parts.eml",
}


@needs_fixtures
@pytest.mark.parametrize(
    "path", [p for p in FIXTURE_FILES if p.name not in STDLIB_DIFFERS], ids=lambda p: p.name
)
def test_fixture_leaves_match_stdlib_email(path: Path) -> None:
    """An independent oracle: the stdlib parser finds the same tree and, once transfer
    decoding is undone, the same bytes in every leaf."""
    raw = path.read_bytes()
    ours = parse_message(raw)["body"]
    theirs = email.message_from_bytes(raw, policy=email.policy.compat32)
    for mine, other in _pair_leaves(ours, theirs):
        expected = other.get_payload(decode=True) or b""
        assert _transfer_decode(body(raw, mine), mine["encoding"]) == expected, mine["part"]


def _pair_leaves(node: Node, msg: email.message.Message) -> Iterator[Any]:
    if "parts" in node:
        payload = msg.get_payload()
        assert isinstance(payload, list) and len(payload) == len(node["parts"]), node["part"]
        for child, sub in zip(node["parts"], payload, strict=True):
            yield from _pair_leaves(child, sub)
    elif "message" in node:
        inner = msg.get_payload(0)
        assert isinstance(inner, email.message.Message)
        yield from _pair_leaves(node["message"]["body"], inner)
    else:
        yield node, msg


def _transfer_decode(data: bytes, encoding: str) -> bytes:
    if encoding == "BASE64":
        return binascii.a2b_base64(data)
    if encoding == "QUOTED-PRINTABLE":
        return quopri.decodestring(data)
    return data


def test_rfc2060_part_specifiers() -> None:
    """RFC 2060 §6.4.5 example: each part's body names its own specifier."""
    raw = fixture("rfc2060_imap-part-specifiers.eml")
    result = parse_message(raw)
    parts = by_part(result)
    expected = {
        "1": "text/plain",
        "2": "application/octet-stream",
        "3": "message/rfc822",
        "3.1": "text/plain",
        "3.2": "application/octet-stream",
        "4": "multipart/mixed",
        "4.1": "image/gif",
        "4.2": "message/rfc822",
        "4.2.1": "text/plain",
        "4.2.2": "multipart/alternative",
        "4.2.2.1": "text/plain",
        "4.2.2.2": "text/richtext",
    }
    assert {k: f"{n['type']}/{n['subtype']}" for k, n in parts.items() if k} == expected
    for number, node in parts.items():
        if "parts" not in node and "message" not in node:
            assert body(raw, node) == f"This part specifier should be: {number}\n".encode()
    assert result["body"]["part"] == ""
    message3 = parts["3"]["message"]
    assert message3["envelope"]["subject"] == "This part specifier should be: 3"
    assert message3["body"]["part"] == "3"  # its multipart body: children are 3.1, 3.2
    assert header(raw, message3["body"]).startswith(b"From: me@myself.com\n")
    assert body(raw, parts["3"]).startswith(b"From: me@myself.com\n")
    assert body(raw, parts["3"]).endswith(b"--3.x--")
    assert header(raw, parts["4.2.2.2"]) == b"Content-Type: TEXT/RICHTEXT\n\n"


def test_nested_mixed_related_alternative() -> None:
    raw = fixture("nested_mixed-related-alternative.eml")
    result = parse_message(raw)
    parts = by_part(result)
    shape = [(n["part"], n["type"], n["subtype"]) for n in nodes(result["body"])]
    assert shape == [
        ("", "multipart", "mixed"),
        ("1", "multipart", "related"),
        ("1.1", "multipart", "alternative"),
        ("1.1.1", "text", "plain"),
        ("1.1.2", "text", "html"),
        ("2", "multipart", "alternative"),
        ("2.1", "text", "plain"),
        ("2.2", "text", "html"),
    ]
    assert body(raw, parts["1.1.1"]) == b"\nDear Sir,\n\nGood evening.\n\n\n \n\n"
    assert body(raw, parts["1.1.2"]) == b"<p>Dear Sir</p>\n<p>Good evening.</p>\n<p></p>"
    assert body(raw, parts["2.2"]) == b"<p>The footer</p>\n"
    assert parts["2"]["disposition"] == ["inline", []]
    assert parts["1.1.1"]["encoding"] == "QUOTED-PRINTABLE"
    assert parts["1.1.1"]["params"] == [["charset", "utf-8"]]
    assert result["summary"]["intro"] == "Dear Sir, Good evening."
    assert result["summary"]["has_attachments"] is False


def test_rfc2231_quoted_extended_filename() -> None:
    raw = fixture("rfc2231-quoted-extended-filename_pine.eml")
    result = parse_message(raw)
    part = by_part(result)["2"]
    assert part["params"] == [["charset", "iso-8859-1"], ["name", "HasenundFrösche.txt"]]
    assert part["disposition"] == ["attachment", [["filename", "HasenundFrösche.txt"]]]
    assert part["id"] == "<Pine.LNX.4.21.0005191026120.8452@penguin.example.com>"
    assert part["description"] == "Short story in German"
    assert part["encoding"] == "BASE64"
    assert body(raw, part).endswith(b"bGljaGVyIHNlaW4gbfxzc2VuIGFscyB3aXIuIiANDQoNDQo=")
    assert by_part(result)["1"]["size"] == 0  # its last CRLF belongs to the delimiter
    summary = result["summary"]
    assert summary["subject"] == "Die Hasen und die Frösche"
    assert summary["to"][1] == {"name": "Heinz Müller", "address": "mueller@example.com"}
    (attachment,) = summary["attachments"]
    assert attachment["filename"] == "HasenundFrösche.txt"
    assert attachment["part"] == "2" and attachment["content_type"] == "text/plain"
    decoded = len(base64.b64decode(b"".join(body(raw, part).split())))
    assert abs(attachment["size"] - decoded) <= 3


def test_nodemailer_continuations_and_emoji() -> None:
    raw = fixture("nodemailer_rfc2231-continuation_emoji-headers.eml")
    result = parse_message(raw)
    parts = by_part(result)
    assert [n["part"] for n in nodes(result["body"])] == ["", "1", "1.1", "1.2", "2", "3"]
    assert parts["2"]["disposition"] == ["attachment", [["filename", "notes 🕶.txt"]]]
    assert ["name", "notes =?UTF-8?Q?=F0=9F=95=B6=2Etxt?="] in parts["2"]["params"]
    assert body(raw, parts["1.1"]) == b"hello"
    assert body(raw, parts["2"]) == b"Some notes about this e-mail =F0=9F=90=B1"
    env = result["envelope"]
    assert env["from"] == [["=?UTF-8?Q?Sender_Name_=F0=9F=91=BB?=", None, "sender", "example.com"]]
    assert env["subject"] == "Nodemailer is unicode friendly =?UTF-8?Q?=E2=9C=94?="
    summary = result["summary"]
    assert summary["from"] == {"name": "Sender Name 👻", "address": "sender@example.com"}
    assert summary["to"] == [{"name": "Receiver Name 👥", "address": "receiver@example.com"}]
    assert summary["subject"] == "Nodemailer is unicode friendly ✔"
    assert summary["date"] == "2015-12-23T09:21:57+00:00"
    assert summary["intro"] == "hello"
    assert [(a["part"], a["filename"]) for a in summary["attachments"]] == [
        ("2", "notes 🕶.txt"),
        ("3", "image.png"),
    ]


def test_base64_encoded_message_rfc822_stays_opaque() -> None:
    """RFC 2046 forbids encoding message/rfc822; when it happens the part is a leaf: its
    content has no offsets in the raw file."""
    raw = fixture("base64-encoded-message-rfc822.eml")
    part = by_part(parse_message(raw))["2"]
    assert (part["type"], part["subtype"], part["encoding"]) == ("message", "rfc822", "BASE64")
    assert "message" not in part
    assert base64.b64decode(body(raw, part)).startswith(b"Subject: Hi\nFrom: alice@")
    assert part["lines"] == 1


def test_preamble_touching_boundary_without_final_newline() -> None:
    raw = fixture("preamble-touching-boundary_no-final-newline.eml")
    result = parse_message(raw)
    parts = by_part(result)
    assert len(result["body"]["parts"]) == 2
    assert body(raw, parts["1"]) == b"test\n"
    assert body(raw, parts["2"]) == b"ZXhhbXBsZQo=\n"
    assert raw.endswith(b"--") and result["body"]["body"][0] + result["body"]["size"] == len(raw)


def test_ryan_finnie_torture_test() -> None:
    raw = fixture("ryan-finnie_mime-torture.eml")
    result = parse_message(raw)
    top = result["body"]
    assert len(top["parts"]) == 11
    assert sum(1 for _ in nodes(top)) == 49
    assert sum(1 for n in nodes(top) if "message" in n) == 11  # as SOURCES.md says
    parts = by_part(result)
    assert list(parts) == [
        "", "1", "2", "2.1", "3", "3.1", "3.2", "3.2.1", "3.2.2", "4", "4.1",
        "5", "5.1", "5.2", "6", "6.1", "6.2", "7", "7.1", "7.2", "8", "8.1", "8.2",
        "9", "9.1", "9.2", "10", "10.1", "10.1.1", "10.1.1.1", "10.1.1.1.1", "10.1.1.1.2",
        "10.1.1.2", "10.1.2", "10.2", "11", "11.1", "11.2", "11.2.1", "11.2.2",
    ]  # fmt: skip
    signed = parts["10"]["message"]["body"]
    assert (signed["type"], signed["subtype"]) == ("multipart", "signed")
    assert parts["10.1.1.2"]["disposition"] == ["attachment", [["filename", "smiley-3.png"]]]
    assert parts["10.2"]["subtype"] == "pgp-signature"
    assert parts["5.2"]["params"] == [["name", "blah2.gz"]]
    assert parts["5.2"]["disposition"] == ["attachment", [["filename", "blah1.gz"]]]
    assert parts["3"]["message"]["envelope"]["subject"] == "messages inside messages inside..."
    assert parts["3.2.2"]["type"] == "application"


def test_iso_2022_jp_subject() -> None:
    raw = fixture("iso-2022-jp_subject-and-body.eml")
    result = parse_message(raw)
    assert result["summary"]["subject"] == "日本語メールテスト (testing Japanese emails)"
    assert result["envelope"]["subject"].startswith("=?ISO-2022-JP?B?GyRCRnxLXDhsJWEhPCVr")
    assert result["body"]["part"] == "1"
    assert "日本語が 正常に 送れているか テスト." in result["summary"]["intro"]


def test_empty_nested_multipart_ends_at_outer_delimiter() -> None:
    raw = fixture("empty-nested-multipart-alternative.eml")
    top = parse_message(raw)["body"]
    assert [(p["part"], p["subtype"]) for p in top["parts"]] == [
        ("1", "alternative"),
        ("2", "plain"),
    ]
    assert top["parts"][0]["parts"] == []


def test_digest_children_default_to_message_rfc822() -> None:
    raw = fixture("rfc2046_multipart-digest.eml")
    parts = by_part(parse_message(raw))
    assert parts["1"]["params"] == [["charset", "us-ascii"]]
    for number in ("2.1", "2.2"):
        assert (parts[number]["type"], parts[number]["subtype"]) == ("message", "rfc822")
        assert parts[number]["header"][1] == 1  # an empty MIME header: just the blank line
    assert parts["2.2"]["message"]["envelope"]["subject"] == "my different opinion"
    assert body(raw, parts["2.2.1"]) == b"... another body goes here ...\n"


def test_single_quoted_boundary_and_missing_content_type_in_message() -> None:
    raw = fixture("two-message-rfc822-parts_single-quoted-boundary.eml")
    result = parse_message(raw)
    parts = by_part(result)
    assert len(result["body"]["parts"]) == 3
    assert body(raw, parts["1.1"]) == b"Hello world 1!"
    assert parts["1"]["message"]["envelope"]["in_reply_to"] == "<test1>"
    assert result["summary"]["message_id"] == "<testmessage-for-bug>"


def test_8bit_headers_bom_and_missing_subtype() -> None:
    latin = parse_message(fixture("8bit-raw-latin1-headers_no-mime.eml"))
    assert latin["summary"]["to"][0]["name"] == "Heinz Müller"
    assert latin["summary"]["intro"].startswith("Die Hasen und die Frösche")
    arf = parse_message(fixture("arf-feedback-report_utf8-bom.eml"))
    assert arf["envelope"]["from"] == [[None, None, "abusedesk", "example.com"]]
    gz = parse_message(fixture("ctype-missing-subtype.eml"))["body"]
    assert (gz["type"], gz["subtype"], gz["params"]) == (
        "application",
        "octet-stream",
        [["name", "document.xml.gz"]],
    )
    folded = parse_message(fixture("badly-folded-headers_from-line.eml"))["summary"]
    assert folded["subject"] == "Badly folded headers, one line with space between To and From"
    assert folded["to"] == [{"name": "Recipient with spaces", "address": "recipient@example.com"}]


# -- hand-written messages --


def test_envelope_address_lists() -> None:
    raw = (
        b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
        b'From: "Fred Foobar" <foobar@Blurdybloop.example>\r\n'
        b"Subject: afternoon meeting\r\n"
        b"Sender: Secretary <sec@example.org>\r\n"
        b"To: mooch@owatagu.siam.edu.example, A Group: a@x.example,\r\n"
        b" =?iso-8859-1?q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be.example>;,\r\n"
        b"\tundisclosed-recipients:;\r\n"
        b"Cc: <@route.example,@two.example:joe@where.example>, bob@host (Bob Smith),\r\n"
        b' "quoted \\" name" <q@x.example>, MAILER-DAEMON\r\n'
        b"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
        b"In-Reply-To: <parent@x.example> (comment)\r\n"
        b"References: <a@x.example>\r\n <parent@x.example>\r\n"
        b"\r\n"
        b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
    )
    result = parse_message(raw)
    env = result["envelope"]
    assert env["date"] == "Mon, 7 Feb 1994 21:52:25 -0800 (PST)"
    assert env["from"] == [["Fred Foobar", None, "foobar", "Blurdybloop.example"]]
    assert env["sender"] == [["Secretary", None, "sec", "example.org"]]
    assert env["reply_to"] == env["from"]  # RFC 3501: defaults to From
    assert env["to"] == [
        [None, None, "mooch", "owatagu.siam.edu.example"],
        [None, None, "A Group", None],
        [None, None, "a", "x.example"],
        ["=?iso-8859-1?q?Andr=E9?= Pirard", None, "PIRARD", "vm1.ulg.ac.be.example"],
        [None, None, None, None],
        [None, None, "undisclosed-recipients", None],
        [None, None, None, None],
    ]
    assert env["cc"] == [
        [None, "@route.example,@two.example", "joe", "where.example"],
        ["Bob Smith", None, "bob", "host"],
        ['quoted " name', None, "q", "x.example"],
        [None, None, "MAILER-DAEMON", ""],
    ]
    assert env["bcc"] is None
    assert env["message_id"] == "<B27397-0100000@Blurdybloop.example>"
    assert env["in_reply_to"] == "<parent@x.example> (comment)"
    summary = result["summary"]
    assert summary["to"][2] == {"name": "André Pirard", "address": "PIRARD@vm1.ulg.ac.be.example"}
    assert len(summary["to"]) == 3  # group markers are not recipients
    assert summary["reply_to"] == []  # the header itself, not the IMAP default
    assert summary["in_reply_to"] == "<parent@x.example>"
    assert summary["references"] == ["<a@x.example>", "<parent@x.example>"]
    assert summary["date"] == "1994-02-07T21:52:25-08:00"
    assert result["body"]["part"] == "1"
    assert result["body"]["params"] == [["charset", "us-ascii"]]
    assert result["body"]["lines"] == 1


def test_missing_headers_and_folding() -> None:
    raw = b"Subject: a\n  folded\tsubject\nTo: x@y.example\n\nbody\n"
    result = parse_message(raw)
    env = result["envelope"]
    assert env["subject"] == "a  folded\tsubject"  # unfolded, not otherwise changed
    assert env["date"] is None and env["from"] is None and env["sender"] is None
    assert env["message_id"] is None
    summary = result["summary"]
    assert summary["date"] is None and summary["from"] is None
    assert summary["subject"] == "a folded subject"
    assert summary["base_subject"] == "a folded subject"


def test_summary_base_subject_and_dates() -> None:
    raw = b"Subject: Re: [list] Fwd: Re: meeting (fwd)\nDate: 7 Feb 94 21:52 GMT\n\nx"
    summary = parse_message(raw)["summary"]
    assert summary["base_subject"] == "meeting"
    assert summary["date"] == "1994-02-07T21:52:00+00:00"
    assert parse_message(b"Date: not a date\n\n")["summary"]["date"] is None


def test_boundary_rules() -> None:
    """RFC 2046 §5.1.1: the CRLF before a delimiter belongs to it, transport padding after
    it is allowed, preamble and epilogue are not parts."""
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n'
        b"\r\n"
        b"preamble\r\n"
        b"--b  \t\r\n"
        b"\r\n"
        b"one\r\n"
        b"\r\n"
        b"--b\n"
        b"Content-Type: text/html\n"
        b"\n"
        b"two\n"
        b"--b--  \r\n"
        b"epilogue\r\n"
        b"--b\r\n"
        b"not a part\r\n"
    )
    result = parse_message(raw)
    top = result["body"]
    assert [body(raw, p) for p in top["parts"]] == [b"one\r\n", b"two"]
    assert top["parts"][0]["header"][1] == 2  # an empty header: the blank line only
    assert top["parts"][0]["lines"] == 1
    assert top["parts"][1]["lines"] == 1
    assert top["body"] == [len(b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'), top["size"]]
    check(raw, result)


def test_missing_close_delimiter_and_no_separator() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=x\n\n--x\n\nfirst\n--x\nContent-Type: te"
    result = parse_message(raw)
    first, second = result["body"]["parts"]
    assert body(raw, first) == b"first"
    assert header(raw, second) == b"Content-Type: te" and second["size"] == 0
    check(raw, result)
    header_only = b"Subject: no body"
    result = parse_message(header_only)
    assert result["body"]["header"] == [0, len(header_only)]
    assert result["body"]["body"] == [len(header_only), 0]
    assert result["envelope"]["subject"] == "no body"


def test_nested_identical_boundaries() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\n\n"
        b"--b\nContent-Type: multipart/alternative; boundary=b\n\n"
        b"--b\n\ninner one\n--b\n\ninner two\n--b--\n"
        b"--b\n\nouter two\n--b--\n"
    )
    result = parse_message(raw)
    check(raw, result)
    inner, outer_two = result["body"]["parts"]
    assert [body(raw, p) for p in inner["parts"]] == [b"inner one", b"inner two"]
    assert body(raw, outer_two) == b"outer two"


def test_longest_boundary_wins_when_one_prefixes_another() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=ab\n\n"
        b"--ab\nContent-Type: multipart/alternative; boundary=abc\n\n"
        b"--abc\n\nin\n--abc--\n--ab\n\nout\n--ab--\n"
    )
    result = parse_message(raw)
    check(raw, result)
    inner, second = result["body"]["parts"]
    assert [body(raw, p) for p in inner["parts"]] == [b"in"]
    assert body(raw, second) == b"out"


def test_attachments_and_inline_parts() -> None:
    raw = (
        b"Content-Type: multipart/related; boundary=r\n\n"
        b"--r\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes("<p>Grüße &amp; <b>hi</b></p>".encode())
        + b"--r\nContent-Type: image/png\nContent-ID: <logo>\nContent-Transfer-Encoding: base64\n\n"
        b"iVBORw0KGgo=\n"
        b'--r\nContent-Type: application/pdf; name="=?utf-8?q?r=C3=A9sum=C3=A9.pdf?="\n\n%PDF\n'
        b"--r--\n"
    )
    summary = parse_message(raw)["summary"]
    assert summary["intro"] == "Grüße & hi"
    assert summary["attachments"] == [
        {
            "part": "2",
            "filename": "",
            "content_type": "image/png",
            "size": 9,
            "content_id": "<logo>",
            "inline": True,
        },
        {
            "part": "3",
            "filename": "résumé.pdf",
            "content_type": "application/pdf",
            "size": 4,
            "content_id": None,
            "inline": False,
        },
    ]
    assert summary["has_attachments"] is True


def test_empty_and_garbage_inputs() -> None:
    for raw in (b"", b"\n", b"\r\n\r\n", b"\x00\xff" * 50, b"--x--\n", b":\n:\n\n"):
        result = parse_message(raw)
        check(raw, result)
    empty = parse_message(b"")["body"]
    assert (empty["part"], empty["type"], empty["size"]) == ("1", "text", 0)


# -- limits --


def test_nesting_depth_is_bounded() -> None:
    levels = MAX_DEPTH + 40
    raw = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(levels)
    )
    raw += b"\nleaf\n"
    result = parse_message(raw)
    check(raw, result)
    assert max(n["part"].count(".") for n in nodes(result["body"])) < MAX_DEPTH
    chain = b"Content-Type: message/rfc822\n\n" * (MAX_DEPTH + 40)
    result = parse_message(chain)
    check(chain, result)
    assert sum(1 for _ in nodes(result["body"])) <= MAX_DEPTH + 1


def test_part_count_is_bounded() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=a\n\n" + b"--a\n\nx\n" * (MAX_PARTS + 500)
    result = parse_message(raw)
    check(raw, result)
    assert sum(1 for _ in nodes(result["body"])) <= MAX_PARTS


def test_25_mb_message_with_large_attachments() -> None:
    """Large attachments are skipped with bytes.find, never decoded or copied part by part."""
    chunk = base64.encodebytes(os.urandom(3 * 1024 * 1024)).replace(b"\n", b"\r\n")
    head = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="==big=="\r\n\r\n'
        b"--==big==\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"
    )
    pieces = [head]
    for i in range(6):
        pieces.append(
            b'--==big==\r\nContent-Type: application/octet-stream; name="f%d.bin"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" % i
        )
        pieces.append(chunk)
    pieces.append(b"--==big==--\r\n")
    raw = b"".join(pieces)
    assert len(raw) > 25_000_000
    result = parse_message(raw)
    top = result["body"]
    assert len(top["parts"]) == 7
    for part in top["parts"][1:]:
        assert part["body"][1] == len(chunk) - 2  # the last CRLF belongs to the delimiter
    sizes = {a["size"] for a in result["summary"]["attachments"]}
    assert all(abs(s - 3 * 1024 * 1024) < 8 for s in sizes)
    assert result["summary"]["intro"] == "See attached."


# -- fuzzing --


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes_never_break_the_parser(raw: bytes) -> None:
    check(raw, parse_message(raw))


_MIME_NOISE = [
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"--",
    b"\n--",
    b";",
    b'"',
    b"=?utf-8?q?",
    b"?=",
    b"*0*=",
    b"Content-Type: multipart/mixed; boundary=x\n\n--x\n",
    b"Content-Type: message/rfc822\n\n",
    b"\xff\xfe",
    b"\x00",
    b"(",
    b"<",
    b":",
]


@needs_fixtures
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(FIXTURE_FILES or [Path("/nonexistent")]),
    st.lists(
        st.tuples(
            st.floats(0, 1),
            st.integers(0, 200),
            st.one_of(st.sampled_from(_MIME_NOISE), st.binary(max_size=20)),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_mutated_fixtures_never_break_the_parser(
    path: Path, edits: list[tuple[float, int, bytes]]
) -> None:
    raw = path.read_bytes()
    for where, cut, insert in edits:
        at = int(where * len(raw))
        raw = raw[:at] + insert + raw[at + cut :]
    check(raw, parse_message(raw))


@st.composite
def mime_trees(draw: st.DrawFn, depth: int = 0) -> tuple[bytes, list[bytes]]:
    """A random well-formed MIME entity and the exact contents of its leaves, in order."""
    nl = draw(st.sampled_from([b"\r\n", b"\n"]))
    if depth < 3 and draw(st.booleans()):
        boundary = b"=_%d_" % depth + draw(st.binary(min_size=1, max_size=8)).hex().encode()
        children = draw(st.lists(mime_trees(depth + 1), min_size=1, max_size=4))
        out = [b'Content-Type: multipart/mixed; boundary="' + boundary + b'"' + nl + nl]
        if draw(st.booleans()):
            out.append(b"preamble" + nl)
        for child, _ in children:
            out.append(b"--" + boundary + draw(st.sampled_from([b"", b" ", b"\t "])) + nl)
            out.append(child + nl)
        out.append(b"--" + boundary + b"--" + nl)
        if draw(st.booleans()):
            out.append(b"epilogue" + nl)
        return b"".join(out), [leaf for _, leaves in children for leaf in leaves]
    lines = draw(st.lists(st.sampled_from([b"", b"text", b"-- sig", b"a--b", b" "]), max_size=5))
    content = nl.join(lines)
    return b"Content-Type: text/plain" + nl + nl + content, [content]


@settings(max_examples=200, deadline=None)
@given(mime_trees())
def test_generated_trees_have_exact_leaf_offsets(tree: tuple[bytes, list[bytes]]) -> None:
    raw, contents = tree
    result = parse_message(raw)
    check(raw, result)
    leaves = [n for n in nodes(result["body"]) if "parts" not in n]
    assert [body(raw, leaf) for leaf in leaves] == contents


@given(st.lists(st.sampled_from(["a", "bb", "ccc ", " ", "\t", "\r\n", "  ", "é", "\u00a0",
                                 "\u2003", "x" * 50]), max_size=600).map("".join),
       st.integers(0, 400))
def test_intro_prefix_equals_collapsing_the_whole_text(text: str, n: int) -> None:
    """The intro collapses whitespace of a prefix only; the answer is the whole text's."""
    assert collapsed_prefix(text, n) == " ".join(text.split())[:n]


def test_intro_of_a_long_plain_body_is_its_first_200_collapsed_characters() -> None:
    body = b"La  de da\tde da 1.\r\n" * 400
    raw = b"From: a@example.com\r\nSubject: s\r\n\r\n" + body
    intro = parse_message(raw)["summary"]["intro"]
    assert intro == " ".join(body.decode().split())[:200]
    assert len(intro) == 200
