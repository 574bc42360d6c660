"""`parse_addresses` reads the common address shapes with one regular expression and everything
else with the full RFC 5322 grammar (`_parse_addresses`); both must give the same result for
every input, simple or not."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from rmail.mail.addresses import _parse_addresses, _simple_addresses, parse_addresses

PIECES = ["alice", "Bob", "x.y", "example.com", "ü", "=?utf-8?q?J=C3=BCrg?=", "@", "<", ">",
          ",", ";", ":", ".", " ", "  ", "\t", "\r\n ", '"', '"Doe, J"', "\\", "(c)", "(",
          ")", "[1.2.3.4]", "[", "]", "''", "!#$%&'*+/=?^_`{|}~-", "a@b", "<a@b>", '""']


def same(value: str) -> None:
    assert parse_addresses(value) == _parse_addresses(value), value


@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
@settings(max_examples=3000, deadline=None)
def test_any_mix_of_pieces_parses_alike(value: str) -> None:
    same(value)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
@settings(max_examples=1000, deadline=None)
def test_any_text_parses_alike(value: str) -> None:
    same(value)


def test_shapes_that_take_the_quick_path() -> None:
    rng = random.Random(7)
    names = ["", "Alice", "Alice  Example", "\tA B\t", '"Doe, John"', '""', '" spaced "',
             "=?utf-8?b?w7w=?=", "Ünïcode Näme"]
    addrs = ["a@b", "first.last@sub.example.org", "o'neil+tag@x-y.example", "ü@ü.example"]
    quick = 0
    for _ in range(500):
        items = []
        for _ in range(rng.randint(1, 3)):
            name, addr = rng.choice(names), rng.choice(addrs)
            items.append(f"{name} <{addr}>" if name else rng.choice([addr, f"<{addr}>"]))
        value = rng.choice([", ", ",", " ,  "]).join(items)
        same(value)
        quick += _simple_addresses(value) is not None
    assert quick > 250  # the shapes above are what the quick path is for
    assert _simple_addresses("Alice Example <alice@example.com>") == [
        ["Alice Example", None, "alice", "example.com"]]
    assert _simple_addresses(" <bench@example.com> ") == [[None, None, "bench", "example.com"]]
    assert _simple_addresses("<a@b>, Bob <c@d>") == [[None, None, "a", "b"],
                                                      ["Bob", None, "c", "d"]]
    assert _simple_addresses("<@route:a@b>") is None
    assert _simple_addresses("undisclosed-recipients:;") is None
    assert _simple_addresses("a@b (comment)") is None
