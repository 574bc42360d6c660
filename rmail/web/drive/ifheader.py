"""The WebDAV `If` request header (RFC 4918 §10.4), parsed into data; no I/O.

    If = 1*No-tag-list | 1*Tagged-list
    Tagged-list = "<" Resource-URL ">" 1*List
    List = "(" 1*Condition ")"
    Condition = ["Not"] ( "<" State-token ">" | "[" entity-tag "]" )
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Condition", "IfHeaderError", "StateList", "parse_if", "submitted_tokens"]


class IfHeaderError(ValueError):
    """The header does not follow the grammar (answered with 400)."""


@dataclass(frozen=True)
class Condition:
    negated: bool
    kind: str        # "token" or "etag"
    value: str       # the state token (without <>), or the entity tag as sent (quotes kept)


@dataclass(frozen=True)
class StateList:
    resource: str | None          # the tag's URL, None for the request URL
    conditions: tuple[Condition, ...]


def parse_if(header: str) -> list[StateList]:
    out: list[StateList] = []
    i, n = 0, len(header)
    resource: str | None = None
    tagged: bool | None = None
    while True:
        while i < n and header[i] in " \t\r\n":
            i += 1
        if i >= n:
            break
        ch = header[i]
        if ch == "<":
            end = header.find(">", i)
            if end < 0:
                raise IfHeaderError("unterminated resource tag")
            if tagged is False:
                raise IfHeaderError("tagged and untagged lists mixed")
            tagged = True
            resource = header[i + 1:end]
            i = end + 1
            continue
        if ch != "(":
            raise IfHeaderError(f"unexpected {ch!r} in If header")
        if tagged is None:
            tagged = False
        if tagged and resource is None:
            raise IfHeaderError("list without a resource tag")
        i += 1
        conds: list[Condition] = []
        while True:
            while i < n and header[i] in " \t\r\n":
                i += 1
            if i >= n:
                raise IfHeaderError("unterminated list")
            if header[i] == ")":
                i += 1
                break
            negated = False
            if header.startswith("Not", i) or header.startswith("not", i):
                negated = True
                i += 3
                while i < n and header[i] in " \t\r\n":
                    i += 1
            if i < n and header[i] == "<":
                end = header.find(">", i)
                if end < 0:
                    raise IfHeaderError("unterminated state token")
                conds.append(Condition(negated, "token", header[i + 1:end]))
                i = end + 1
            elif i < n and header[i] == "[":
                end = header.find("]", i)
                if end < 0:
                    raise IfHeaderError("unterminated entity tag")
                conds.append(Condition(negated, "etag", header[i + 1:end].strip()))
                i = end + 1
            else:
                raise IfHeaderError("expected a state token or an entity tag")
        if not conds:
            raise IfHeaderError("empty list")
        out.append(StateList(resource if tagged else None, tuple(conds)))
    if not out:
        raise IfHeaderError("empty If header")
    return out


def submitted_tokens(lists: list[StateList]) -> set[str]:
    """Lock tokens the client presents (those it does not negate)."""
    return {c.value for sl in lists for c in sl.conditions if c.kind == "token" and not c.negated}
