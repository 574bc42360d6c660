"""Regex alias rules: the check that keeps a rule's pattern from backtracking for long on
local parts that anyone on the internet chooses."""

from __future__ import annotations

import re
import re._constants as _re_constants  # the parsed form of a pattern, to vet alias rules
import re._parser as _re_parser
from typing import Any

from rmail.store.errors import InvalidValue

MAX_PATTERN_LENGTH = 256
MAX_UNBOUNDED_REPEATS = 3


def check_alias_pattern(pattern: object) -> str:
    """A regex rule is matched against local parts that anyone on the internet chooses, so
    patterns that can backtrack for long are refused: no unbounded repeat inside another
    repeat or around an alternation (`(a+)+`, `(a|a)*`), and at most three unbounded
    repeats in all (local parts are at most 64 characters, which bounds the rest)."""
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidValue(f"alias pattern must be 1-{MAX_PATTERN_LENGTH} characters")
    try:
        re.compile(pattern)
        parsed = _re_parser.parse(pattern)
    except (re.error, RecursionError) as exc:
        raise InvalidValue(f"alias pattern is not a valid regular expression: {exc}") from exc
    unbounded = _count_unbounded(parsed, inside_repeat=False)
    if unbounded > MAX_UNBOUNDED_REPEATS:
        raise InvalidValue(f"alias pattern has more than {MAX_UNBOUNDED_REPEATS} unbounded "
                           "repeats (*, +, {n,}); simplify it")
    return pattern


def _count_unbounded(parsed: Any, *, inside_repeat: bool) -> int:
    """Count unbounded repeats; raise for the shapes that backtrack exponentially."""
    count = 0
    for op, arg in parsed:
        if op in (_re_constants.MAX_REPEAT, _re_constants.MIN_REPEAT,
                  getattr(_re_constants, "POSSESSIVE_REPEAT", None)):
            _low, high, body = arg
            unbounded = high == _re_constants.MAXREPEAT or high > 64
            if unbounded and inside_repeat:
                raise InvalidValue("alias pattern nests a repeat inside a repeat (like (a+)+), "
                                   "which can take exponential time")
            count += unbounded + _count_unbounded(body, inside_repeat=inside_repeat or unbounded)
        elif op is _re_constants.BRANCH:
            if inside_repeat:
                raise InvalidValue("alias pattern repeats an alternation (like (a|b)+), which "
                                   "can take exponential time")
            count += sum(_count_unbounded(branch, inside_repeat=False) for branch in arg[1])
        elif op is _re_constants.SUBPATTERN:
            count += _count_unbounded(arg[-1], inside_repeat=inside_repeat)
        elif op in (_re_constants.ASSERT, _re_constants.ASSERT_NOT):
            count += _count_unbounded(arg[1], inside_repeat=inside_repeat)
        elif op is _re_constants.GROUPREF_EXISTS:
            for branch in arg[1:]:
                if branch is not None:
                    count += _count_unbounded(branch, inside_repeat=inside_repeat)
    return count
