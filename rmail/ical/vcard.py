"""A small vCard 2.1/3.0/4.0 reader (RFC 6350, RFC 2426): enough to validate a CardDAV PUT, find
the UID and evaluate addressbook-query filters. Values stay as text; nothing is re-serialised,
the stored bytes are exactly what the client sent.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field


class InvalidVCard(ValueError):
    """Not an acceptable vCard; `str(exc)` is the reason."""


@dataclass
class Property:
    group: str
    name: str
    params: dict[str, list[str]]
    value: str


@dataclass
class VCard:
    version: str
    properties: list[Property] = field(default_factory=list)

    def get(self, name: str) -> list[Property]:
        name = name.upper()
        return [p for p in self.properties if p.name == name]

    def first(self, name: str) -> str | None:
        found = self.get(name)
        return found[0].value if found else None

    @property
    def uid(self) -> str | None:
        value = self.first("UID")
        return value.strip() if value else None


_NAME_RE = re.compile(r"^(?:([A-Za-z0-9-]+)\.)?([A-Za-z0-9-]+)")


def _unfold(text: str) -> list[str]:
    lines: list[str] = []
    for raw in re.split(r"\r\n|\r|\n", text):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif lines and lines[-1].endswith("=") and "QUOTED-PRINTABLE" in lines[-1].upper():
            lines[-1] = lines[-1][:-1] + raw  # vCard 2.1 soft line break
        elif raw.strip():
            lines.append(raw)
    return lines


def _split_params(text: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for part in re.findall(r';((?:"[^"]*"|[^;])*)', text):
        key, eq, value = part.partition("=")
        if not eq:  # vCard 2.1 bare type: TEL;HOME;VOICE
            params.setdefault("TYPE", []).append(key.lower())
            continue
        values = [v.strip('"') for v in re.findall(r'"[^"]*"|[^,]+', value)]
        params.setdefault(key.upper(), []).extend(values)
    return params


def _parse_line(line: str) -> Property | None:
    match = _NAME_RE.match(line)
    if not match:
        return None
    rest = line[match.end():]
    in_quote = False
    for i, ch in enumerate(rest):
        if ch == '"':
            in_quote = not in_quote
        elif ch == ":" and not in_quote:
            return Property(match.group(1) or "", match.group(2).upper(),
                            _split_params(rest[:i]), rest[i + 1:])
    return None


def parse_vcards(data: bytes | str) -> list[VCard]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.lstrip("\ufeff")
    cards: list[VCard] = []
    current: VCard | None = None
    depth = 0
    for line in _unfold(text):
        upper = line.upper()
        if upper.startswith("BEGIN:VCARD"):
            depth += 1
            if depth == 1:
                current = VCard("")
            continue
        if upper.startswith("END:VCARD"):
            depth -= 1
            if depth == 0 and current is not None:
                cards.append(current)
                current = None
            continue
        if current is None or depth != 1:
            continue
        prop = _parse_line(line)
        if prop is None:
            continue
        if prop.name == "VERSION":
            current.version = prop.value.strip()
        current.properties.append(prop)
    if depth != 0:
        raise InvalidVCard("unterminated vCard (BEGIN:VCARD without END:VCARD)")
    return cards


def parse_vcard(data: bytes | str) -> VCard:
    """Exactly one vCard (what a CardDAV PUT carries, RFC 6352 §5.1)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if "BEGIN:VCARD" not in text.upper():
        raise InvalidVCard("not a vCard (no BEGIN:VCARD)")
    cards = parse_vcards(text)
    if len(cards) != 1:
        raise InvalidVCard(f"expected exactly one vCard, found {len(cards)}")
    card = cards[0]
    if card.version not in ("2.1", "3.0", "4.0"):
        raise InvalidVCard(f"unsupported vCard VERSION {card.version or '(missing)'}")
    if not card.uid:
        raise InvalidVCard("vCard without UID")
    return card


def fallback_uid(card_text: str) -> str:
    """A stable UID for a vCard that has none (imports of old 2.1 exports)."""
    return "rmail-" + hashlib.sha256(card_text.encode()).hexdigest()[:24]
