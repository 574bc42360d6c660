"""RFC 5322 address lists as IMAP ENVELOPE address structures (RFC 3501 §7.4.2).

An address is `[name, adl, mailbox, host]`. Names stay undecoded (IMAP clients decode RFC 2047
themselves); `summary_addresses` decodes them for the JSON API. Parsing is lenient: whatever
does not fit the grammar still yields something, never an exception.
"""

from __future__ import annotations

import re

from rmail.mail.headers import decode_words

Address = list[str | None]
Token = tuple[str, str]

# RFC 3501 §7.4.2: group syntax is flagged by a NIL host; a NIL mailbox as well ends the group.
GROUP_END: Address = [None, None, None, None]

_TOKEN = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    r'|(?P<qs>"(?:[^"\\]|\\.)*"?)'
    r"|(?P<lit>\[(?:[^\[\]\\]|\\.)*\]?)"
    r"|(?P<sp>[<>@,;:.)\]])"
    r'|(?P<atom>[^ \t\r\n"\[\]<>@,;:.()]+)',
    re.DOTALL,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_SKIP = ("ws", "comment")


def _tokenize(value: str) -> list[Token]:
    """Lexical tokens of RFC 5322 §3.2; comments nest (§3.2.2), so they are scanned by hand."""
    tokens: list[Token] = []
    pos, n = 0, len(value)
    while pos < n:
        if value[pos] == "(":
            end = _comment_end(value, pos)
            text = value[pos + 1 : end]
            tokens.append(("comment", text[:-1] if text.endswith(")") else text))
            pos = end
            continue
        m = _TOKEN.match(value, pos)
        if m is None or m.lastgroup is None:  # unreachable: the classes cover every character
            pos += 1
            continue
        tokens.append((m.lastgroup, m.group()))
        pos = m.end()
    return tokens


def _comment_end(value: str, pos: int) -> int:
    """Index just past the comment opening at `pos`, or the end of an unterminated one."""
    depth = 0
    n = len(value)
    while pos < n:
        c = value[pos]
        if c == "\\":
            pos += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    return n


def _unquote(text: str) -> str:
    inner = text[1:-1] if len(text) > 1 and text.endswith('"') else text[1:]
    return _QUOTED_PAIR.sub(r"\1", inner)


def _phrase(tokens: list[Token]) -> str:
    """Display-name words joined by single spaces; quoted strings lose their quotes."""
    words: list[str] = []
    space = False
    for kind, text in tokens:
        if kind in _SKIP:
            space = True
            continue
        if space and words:
            words.append(" ")
        words.append(_unquote(text) if kind == "qs" else text)
        space = False
    return "".join(words)


# The shapes nearly every From/To takes, `local@host`, `<local@host>` (what many programs
# and MTAs write) and `Name Words <local@host>` or `"Quoted Name" <local@host>` (dot-atoms,
# no comments, routes, groups or escapes), read with one match instead of the tokenizer:
# parsing a delivery's envelope was a third of its parse (`<local@host>` alone: 61 -> 43 us
# per 4 KB delivery's parse).
# Anything else takes the full grammar; both give the same result (tests/mail).
_ATOM_RE = r"[^ \t\r\n\"\[\]<>@,;:.()\\]+"
_DOT_ATOM_RE = rf"{_ATOM_RE}(?:\.{_ATOM_RE})*"
_SIMPLE = re.compile(
    rf"[ \t]*(?:(?:(?P<name>{_ATOM_RE}(?:[ \t]+{_ATOM_RE})*)|\"(?P<quoted>[^\"\\\r\n]*)\")?"
    rf"[ \t]*<(?P<local>{_DOT_ATOM_RE})@(?P<host>{_DOT_ATOM_RE})>"
    rf"|(?P<bare_local>{_DOT_ATOM_RE})@(?P<bare_host>{_DOT_ATOM_RE}))[ \t]*")


def _simple_addresses(value: str) -> list[Address] | None:
    """`parse_addresses` of a list of simple addresses only; None when any is not simple."""
    out: list[Address] = []
    # a quoted name may hold a comma: then only a single address is read here
    for item in (value,) if '"' in value else value.split(","):
        m = _SIMPLE.fullmatch(item)
        if m is None:
            if item.strip(" \t"):
                return None
            continue  # an empty list element, skipped as the grammar does
        name, quoted, local, host, bare_local, bare_host = m.groups()
        if local is None:
            out.append([None, None, bare_local, bare_host])
            continue
        name = " ".join(name.split()) if name is not None else quoted
        out.append([name or None, None, local, host])
    return out


def parse_addresses(value: str | None) -> list[Address] | None:
    """An address-list header as ENVELOPE addresses; None (NIL) when absent or empty.

    Groups become a start marker `[None, None, name, None]`, their members, and GROUP_END.
    """
    if not value:
        return None
    simple = _simple_addresses(value)
    if simple is not None:
        return simple or None
    return _parse_addresses(value)


def _parse_addresses(value: str) -> list[Address] | None:
    """`parse_addresses` by the full RFC 5322 grammar (tokens, comments, groups, routes)."""
    out: list[Address] = []
    current: list[Token] = []
    angle = False
    group = False
    for kind, text in _tokenize(value):
        if kind != "sp":
            current.append((kind, text))
        elif angle:
            angle = text != ">"
            current.append((kind, text))
        elif text == ",":
            _flush(current, out)
        elif text == ";":
            _flush(current, out)
            if group:
                out.append(list(GROUP_END))
                group = False
        elif text == ":":
            if group:  # groups cannot nest: close the open one first
                _flush(current, out)
                out.append(list(GROUP_END))
            out.append([None, None, _phrase(current), None])
            current.clear()
            group = True
        else:
            angle = text == "<"
            current.append((kind, text))
    _flush(current, out)
    if group:
        out.append(list(GROUP_END))
    return out or None


def _flush(tokens: list[Token], out: list[Address]) -> None:
    address = _mailbox(tokens)
    if address is not None:
        out.append(address)
    tokens.clear()


def _mailbox(tokens: list[Token]) -> Address | None:
    """One `name <route:local@domain>` or `local@domain (comment)` to an ENVELOPE address.

    The host is "" rather than None when missing, so the address is not taken for a group.
    """
    if all(kind in _SKIP for kind, _ in tokens):
        return None
    lt = next((i for i, tok in enumerate(tokens) if tok == ("sp", "<")), None)
    adl: str | None = None
    outside = tokens  # a comment may stand in for the name, but not one inside <...>
    if lt is None:
        name = ""
        spec = [tok for tok in tokens if tok[0] not in _SKIP]
    else:
        name = _phrase(tokens[:lt])
        gt = next((i for i in range(lt + 1, len(tokens)) if tokens[i] == ("sp", ">")), None)
        spec = [tok for tok in tokens[lt + 1 : gt] if tok[0] not in _SKIP]
        outside = tokens[:lt] + (tokens[gt + 1 :] if gt is not None else [])
        colon = next((i for i, tok in enumerate(spec) if tok == ("sp", ":")), None)
        if spec and spec[0] == ("sp", "@") and colon is not None:  # obsolete route, §4.4
            adl = "".join(text for _, text in spec[:colon])
            spec = spec[colon + 1 :]
    if not name:
        comments = (" ".join(text.split()) for kind, text in outside if kind == "comment")
        name = next((c for c in comments if c), "")
    at = max((i for i, tok in enumerate(spec) if tok == ("sp", "@")), default=None)
    local = spec if at is None else spec[:at]
    domain = [] if at is None else spec[at + 1 :]
    mailbox = "".join(text for _, text in local) or None
    host = "".join(text for _, text in domain)
    return [name or None, adl, mailbox, host]


def summary_addresses(addresses: list[Address] | None) -> list[dict[str, str]]:
    """Group markers dropped, names decoded: `{"name", "address"}` for lists and previews."""
    out: list[dict[str, str]] = []
    for name, _adl, mailbox, host in addresses or ():
        if host is None:
            continue
        address = f"{mailbox or ''}@{host}" if host else mailbox or ""
        if not (address or name):
            continue  # "<>": the null sender of bounces
        out.append(
            {"name": " ".join(decode_words(name).split()) if name else "", "address": address}
        )
    return out
