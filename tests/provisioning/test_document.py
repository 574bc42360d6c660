"""The document parser on bytes alone: the seed's example, and every kind of problem listed
together with its location."""

from __future__ import annotations

import json

import pytest

from rmail.provisioning.document import DocumentError, parse_document, parse_targets
from rmail.store.errors import InvalidValue
from tests.provisioning.conftest import SEED_DOCUMENT


def test_seed_document_parses() -> None:
    doc = parse_document(SEED_DOCUMENT, "seed.json")
    spec = doc.domains["example.com"]
    assert sorted(spec.accounts) == ["alice", "bob"]
    assert spec.accounts["bob"].password == "$1$0MhHZVnG$d6rHD1KFLNOJ9EFdMKrB91"
    assert spec.aliases["office"].to == ("alice@example.com", "bob@example.com")
    assert doc.size == 3


def test_long_sha512_hash_from_the_seed_is_accepted() -> None:
    long_hash = ("$6$rounds=100000$vE8/iTZi9/cC/RCk$lkjkaN9LY3KAiF0lxmd/dfvkxKm9WDnyG.onOaXCJ"
                 "64htjzkpzxRCNLZFDbi5ggwTf4Z3vbo3pPATJzgtytU//")
    raw = json.dumps({"example.com": {"account": [{"name": "carol",
                                                   "password": long_hash}]}}).encode()
    assert parse_document(raw, "x").domains["example.com"].accounts["carol"].password == long_hash


def test_idn_domains_and_case() -> None:
    raw = json.dumps({"Bücher.Example": {"account": [
        {"name": "Anna", "password": "$1$9hW1N3SC$J6vfo890zc50GC1jYHP211"}]}})
    doc = parse_document(raw.encode(), "x")
    assert list(doc.domains) == ["xn--bcher-kva.example"]
    assert list(doc.domains["xn--bcher-kva.example"].accounts) == ["anna"]


def test_every_problem_is_listed_with_its_place() -> None:
    raw = b"""{
      "example.com": {
        "acount": [],
        "account": [
          {"name": "ok", "password": "$1$9hW1N3SC$J6vfo890zc50GC1jYHP211"},
          {"name": "OK", "password": "$1$9hW1N3SC$J6vfo890zc50GC1jYHP211"},
          {"name": "bad name", "password": "$1$abc"},
          {"name": "x", "password": "plaintext", "quota": 5},
          "not an object"
        ],
        "alias": [{"name": "list", "to": "ok@example.com,,x@example.com"},
                  {"name": "ok", "to": "ok@example.com"},
                  {"name": "y"}]
      },
      "-bad-.example": {},
      "EXAMPLE.com": {},
      "example.org": []
    }"""
    with pytest.raises(DocumentError) as caught:
        parse_document(raw, "doc.json")
    found = {(p.domain, p.where) for p in caught.value.problems}
    assert found == {
        ("example.com", "acount"),
        ("example.com", "account[1].name"),      # duplicate of "ok" after lowercasing
        ("example.com", "account[2].name"),
        ("example.com", "account[2].password"),   # a salt without a checksum
        ("example.com", "account[3].quota"),
        ("example.com", "account[3].password"),
        ("example.com", "account[4]"),
        ("example.com", "alias[0].to"),
        ("example.com", "alias[1].name"),          # also an account
        ("example.com", "alias[2].to"),            # missing
        ("-bad-.example", None),
        ("EXAMPLE.com", None),                     # duplicate domain
        ("example.org", None),
    }
    text = str(caught.value)
    assert "doc.json: example.com: account[3].password: not a supported hash" in text


@pytest.mark.parametrize("raw", [b"", b"[]", b"{", b"\xff", b'"x"'])
def test_not_a_document(raw: bytes) -> None:
    with pytest.raises(DocumentError) as caught:
        parse_document(raw, "d")
    assert len(caught.value.problems) == 1


def test_targets() -> None:
    assert parse_targets(" A@Example.com, b@x.org ,a@example.com") == \
        ("a@example.com", "b@x.org")
    for bad in ("", " , ", "a@x,", "nobody", "a@-x-"):
        with pytest.raises(InvalidValue):
            parse_targets(bad)
