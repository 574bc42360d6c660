"""The search box language of `GET /users/{user}/search?q=` (Gmail-like, as WildDuck's): parsed
into a typed query, tested on strings alone.

    words  "a phrase"  from:carol  to:bob@x  subject:"the plan"  has:attachment
    is:unread  is:read  is:flagged  before:2025-01-31  after:2024-12-01  larger:10k  smaller:2M

Every text term must match (AND). Text is folded the way the index folds it (`fold_text`):
case and diacritics by the index's tokenizer, CJK ideographs, kana and hangul split into one
token per character, so a word of Japanese is found as the phrase of its characters.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

__all__ = ["QueryError", "SearchQuery", "fold_text", "fts_expression", "fts_prefix_phrase",
           "parse_query"]

MAX_QUERY = 1000
MAX_TERMS = 32
_SIZE = re.compile(r"([0-9]{1,12})([kKmMgG]?)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Han, Hiragana, Katakana, Hangul, CJK punctuation and fullwidth forms: scripts written
# without spaces between words.
_CJK = re.compile("([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
                  "\uff66-\uff9f])")
_FIELDS = {"from": "sender", "to": "recipients", "cc": "recipients", "subject": "subject"}


class QueryError(ValueError):
    """The query cannot be understood (the message says why)."""


@dataclass
class SearchQuery:
    terms: list[tuple[str | None, str]] = field(default_factory=list)  # (column, text)
    has_attachment: bool | None = None
    unread: bool | None = None
    flagged: bool | None = None
    before: int | None = None  # unix time, exclusive
    after: int | None = None   # unix time, inclusive
    larger: int | None = None
    smaller: int | None = None

    @property
    def has_filters(self) -> bool:
        """Anything besides text terms."""
        return any(v is not None for v in (self.has_attachment, self.unread, self.flagged,
                                           self.before, self.after, self.larger, self.smaller))


def fold_text(text: str) -> str:
    """Text as the index stores it: CJK characters each a token of their own. ASCII text
    (most mail) has none, and `isascii` is a C scan where the regex walks every character."""
    return text if text.isascii() else _CJK.sub(r" \1 ", text)


def _tokens(q: str) -> list[str]:
    """Split on spaces, keeping `"quoted phrases"` (also after `name:`) together."""
    out: list[str] = []
    i, n = 0, len(q)
    while i < n:
        if q[i].isspace():
            i += 1
            continue
        start = i
        while i < n and not q[i].isspace():
            if q[i] == '"':
                end = q.find('"', i + 1)
                i = n if end == -1 else end + 1
            else:
                i += 1
        out.append(q[start:i])
    return out


def _size(value: str) -> int:
    m = _SIZE.fullmatch(value)
    if not m:
        raise QueryError(f"size {value!r}: a number of bytes, optionally with k or M")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]


def _date(value: str) -> int:
    if not _DATE.fullmatch(value):
        raise QueryError(f"date {value!r}: use YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"date {value!r} does not exist") from None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value.strip('"')


def parse_query(q: str) -> SearchQuery:
    if len(q) > MAX_QUERY:
        raise QueryError(f"query longer than {MAX_QUERY} characters")
    query = SearchQuery()
    for token in _tokens(q):
        name, colon, value = token.partition(":")
        key = name.lower()
        if colon and value and not name.startswith('"') and key in (
                *_FIELDS, "has", "is", "before", "after", "larger", "smaller"):
            value = _unquote(value)
            if key in _FIELDS:
                query.terms.append((_FIELDS[key], value))
            elif key == "has":
                if value.lower() not in ("attachment", "attachments"):
                    raise QueryError(f"has:{value}: only has:attachment is known")
                query.has_attachment = True
            elif key == "is":
                word = value.lower()
                if word in ("unread", "unseen"):
                    query.unread = True
                elif word in ("read", "seen"):
                    query.unread = False
                elif word in ("flagged", "starred"):
                    query.flagged = True
                else:
                    raise QueryError(f"is:{value}: use unread, read or flagged")
            elif key == "before":
                query.before = _date(value)
            elif key == "after":
                query.after = _date(value)
            elif key == "larger":
                query.larger = _size(value)
            else:
                query.smaller = _size(value)
        else:
            text = _unquote(token)
            if text.strip():
                query.terms.append((None, text))
    if len(query.terms) > MAX_TERMS:
        raise QueryError(f"more than {MAX_TERMS} search terms")
    return query


def fts_expression(query: SearchQuery) -> str | None:
    """The SQLite FTS5 MATCH expression of the text terms (None when there are none). Each
    term is one quoted FTS5 string, i.e. a phrase of its tokens; a column name limits it."""
    parts = []
    for column, text in query.terms:
        folded = " ".join(fold_text(text).split())
        if not any(ch.isalnum() for ch in folded):
            continue  # punctuation only: the tokenizer would find no token in it
        phrase = '"' + folded.replace('"', '""') + '"'
        parts.append(f"{column} : {phrase}" if column else phrase)
    return " AND ".join(parts) if parts else None


def fts_prefix_phrase(text: str, column: str | None = None) -> str | None:
    """An FTS5 expression for text a client searches for as a whole (IMAP BODY/TEXT): the
    phrase of its words, the last one a prefix (`"meet"` finds "meeting", as Dovecot's FTS
    does). None when the text has no word the tokenizer would index."""
    folded = " ".join(fold_text(text).split())
    if not any(ch.isalnum() for ch in folded):
        return None
    phrase = '"' + folded.replace('"', '""') + '" *'
    return f"{column} : {phrase}" if column else phrase
