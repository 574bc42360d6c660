"""The filter model on its own: validation of hostile documents and evaluation order."""

from __future__ import annotations

from typing import Any

import pytest

from rmail.mail.filters import MessageFacts, evaluate, parse_filter
from rmail.store.errors import InvalidValue

FID = "0123456789abcdef01234567"


def make(doc: dict[str, Any], fid: str = FID) -> Any:
    return parse_filter(doc, filter_id=fid)


@pytest.mark.parametrize(("doc", "error"), [
    ([], "must be an object"),
    ({"action": {"seen": True}}, "needs a query"),
    ({"query": {}}, "needs an action"),
    ({"query": {}, "action": {}}, "must do something"),
    ({"query": {"form": "x"}, "action": {"seen": True}}, "unknown criterion: form"),
    ({"query": {"from": ""}, "action": {"seen": True}}, "must not be empty"),
    ({"query": {"from": 5}, "action": {"seen": True}}, "must be a string"),
    ({"query": {"subject": "x" * 300}, "action": {"seen": True}}, "longer than"),
    ({"query": {"size": 0}, "action": {"seen": True}}, "non-zero integer"),
    ({"query": {"size": True}, "action": {"seen": True}}, "non-zero integer"),
    ({"query": {"hasAttachment": "yes"}, "action": {"seen": True}}, "true or false"),
    ({"query": {}, "action": {"delete": True, "mailbox": "F1"}}, "cannot be combined"),
    ({"query": {}, "action": {"spam": True, "mailbox": "F1"}}, "pick one"),
    ({"query": {}, "action": {"targets": "a@b.c"}}, "list of e-mail addresses"),
    ({"query": {}, "action": {"targets": [f"a{i}@b.c" for i in range(11)]}}, "more than 10"),
    ({"query": {}, "action": {"seen": 1}}, "true or false"),
    ({"query": {}, "action": {"seen": True}, "extra": 1}, "unknown field: extra"),
])
def test_malformed_filters_are_refused_with_a_reason(doc: Any, error: str) -> None:
    with pytest.raises(InvalidValue, match=error):
        make(doc)


def test_bad_id_is_refused() -> None:
    with pytest.raises(InvalidValue, match="24 lowercase hex"):
        make({"query": {}, "action": {"seen": True}}, fid="../../etc")


def test_round_trip_through_a_document() -> None:
    f = make({"name": " n ", "query": {"from": "A", "size": -5},
              "action": {"targets": ["x@y.z", "x@y.z"], "stop": True}})
    doc = f.to_doc()
    assert doc["name"] == "n" and doc["action"]["targets"] == ["x@y.z"]
    again = make({k: v for k, v in doc.items() if k not in ("id", "created")})
    assert again == f


RAW = (b"From: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.net>\r\nTo: bob@example.com\r\n"
       b"Cc: list@example.org\r\nSubject: =?utf-8?b?w5xiZXJ3ZWlzdW5n?=\r\n"
       b"List-Id: <team.example.org>\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n\r\nDer Betrag ist bezahlt.\r\n--b\r\n"
       b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
       b"\r\nJVBERi0=\r\n--b--\r\n")


@pytest.mark.parametrize(("query", "hit"), [
    ({"from": "jürgen"}, True), ({"from": "JURGEN@EXAMPLE"}, True), ({"from": "bob"}, False),
    ({"to": "list@example.org"}, True), ({"subject": "überweisung"}, True),
    ({"listId": "team.example"}, True), ({"text": "betrag IST"}, True),
    ({"text": "JVBERi0"}, False), ({"hasAttachment": True}, True),
    ({"hasAttachment": False}, False), ({"size": 10}, True), ({"size": -10}, False),
    ({"from": "jürgen", "subject": "nope"}, False), ({}, True),
])
def test_criteria(query: dict[str, Any], hit: bool) -> None:
    verdict = evaluate([make({"query": query, "action": {"flag": True}})], MessageFacts(RAW))
    assert (verdict.flags == {"\\Flagged"}) is hit


def test_actions_accumulate_in_order_until_stop() -> None:
    filters = [
        make({"query": {}, "action": {"seen": True}}, "a" * 24),
        make({"query": {}, "action": {"mailbox": "F1", "targets": ["x@y.z"]}}, "b" * 24),
        make({"query": {}, "action": {"spam": True, "targets": ["x@y.z", "w@y.z"]}}, "c" * 24),
        make({"query": {}, "action": {"delete": True, "stop": True}}, "d" * 24),
        make({"query": {}, "action": {"flag": True}}, "e" * 24),
    ]
    v = evaluate(filters, MessageFacts(RAW))
    assert v.flags == {"\\Seen"} and v.mailbox == "F1" and not v.spam
    assert v.targets == ["x@y.z", "w@y.z"] and not v.discard  # a folder was chosen
    assert v.matched == ["a" * 24, "b" * 24, "c" * 24, "d" * 24]
    alone = evaluate([filters[3]], MessageFacts(RAW))
    assert alone.discard


def test_garbage_message_does_not_raise() -> None:
    v = evaluate([make({"query": {"from": "x", "text": "y"}, "action": {"seen": True}})],
                 MessageFacts(b"\xff\xfe\x00garbage without headers"))
    assert v.matched == []
