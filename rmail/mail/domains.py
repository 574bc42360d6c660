"""Internationalised domain names.

IDNA 2008 with UTS #46 mapping, non-transitional, as browsers and registries do: `straße.de`
stays distinct from `strasse.de` (the stdlib's IDNA 2003 codec folds one into the other, which
would merge two different mail domains).
"""

from __future__ import annotations

import idna


def to_ascii_domain(name: str) -> str:
    """`Bücher.example` -> `xn--bcher-kva.example`; raises UnicodeError when invalid."""
    try:
        return idna.encode(name, uts46=True, transitional=False).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise UnicodeError(str(exc)) from exc
