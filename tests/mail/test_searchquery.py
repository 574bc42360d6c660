"""The search box language, on strings alone."""

from __future__ import annotations

import pytest

from rmail.mail.searchquery import (
    QueryError,
    fold_text,
    fts_expression,
    fts_prefix_phrase,
    parse_query,
)


def test_terms_and_operators() -> None:
    q = parse_query('budget "next year" from:carol subject:"the plan" has:attachment '
                    "is:unread before:2025-02-01 after:2024-12-31 larger:10k smaller:2M")
    assert q.terms == [(None, "budget"), (None, "next year"), ("sender", "carol"),
                       ("subject", "the plan")]
    assert (q.has_attachment, q.unread, q.flagged) == (True, True, None)
    assert q.before == 1738368000 and q.after == 1735603200
    assert (q.larger, q.smaller) == (10 * 1024, 2 * 1024 * 1024)
    assert fts_expression(q) == ('"budget" AND "next year" AND sender : "carol" AND '
                                 'subject : "the plan"')


def test_fts_syntax_is_quoted() -> None:
    assert fts_expression(parse_query("OR NEAR(x) col:umn")) == (
        '"OR" AND "NEAR(x)" AND "col:umn"')
    assert fts_expression(parse_query('a"b c')) == '"a""b c"'  # an open quote runs to the end
    assert fts_expression(parse_query('" ( ^')) is None
    assert not parse_query("").terms and not parse_query("").has_filters


def test_cjk_is_split_per_character() -> None:
    assert fold_text("日本語 mail テスト") == " 日  本  語  mail  テ  ス  ト "
    assert fts_expression(parse_query("日本語")) == '"日 本 語"'


@pytest.mark.parametrize("bad", ["is:weird", "has:pets", "before:2025-13-01",
                                 "after:01/02/2025", "larger:lots", "smaller:-1",
                                 "x" * 1001, " ".join(["w"] * 33)])
def test_refused(bad: str) -> None:
    with pytest.raises(QueryError):
        parse_query(bad)


def test_prefix_phrase_for_imap() -> None:
    assert fts_prefix_phrase("Ocelot sight") == '"Ocelot sight" *'
    assert fts_prefix_phrase('say "hi"', "body") == 'body : "say ""hi""" *'
    assert fts_prefix_phrase("正常") == '"正 常" *'
    assert fts_prefix_phrase("<->") is None and fts_prefix_phrase("") is None
