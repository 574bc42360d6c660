"""The declarative provisioning document, parsed and checked (pure: bytes in, typed out).

The mail controller's "Basic JSON API" document: a key per domain, each an object with an
`account` list (`name`, `password` crypt hash) and an `alias` list (`name`, `to`: one or more
comma-separated recipients)::

    {"example.com": {"account": [{"name": "alice", "password": "$1$..."}],
                     "alias": [{"name": "office", "to": "alice@example.com,bob@example.com"}]}}

Every problem is collected, not just the first, each located by source, domain, list index and
field (`doc.json: example.com: account[2].password: malformed md5_crypt hash`), so a controller
fixes its document in one round. A document with any problem is refused whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from rmail.auth.passwords import check_hash
from rmail.store.accounts import check_username, normalize_address, normalize_domain
from rmail.store.errors import InvalidValue, UnsafeName

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
MAX_TARGETS = 1000
DOMAIN_KEYS = ("account", "alias")
ACCOUNT_KEYS = ("name", "password")
ALIAS_KEYS = ("name", "to")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document, located as precisely as the document allows."""

    source: str
    domain: str | None
    where: str | None          # e.g. "account[2].password"
    message: str

    def __str__(self) -> str:
        parts = [self.source, *(p for p in (self.domain, self.where) if p), self.message]
        return ": ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "domain": self.domain, "where": self.where,
                "message": self.message}


class DocumentError(ValueError):
    """The document is refused; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class AccountSpec:
    name: str
    password: str  # a crypt hash
    index: int


@dataclass(frozen=True)
class AliasSpec:
    name: str
    to: tuple[str, ...]  # normalised addresses, in the document's order, no duplicates
    index: int


@dataclass
class DomainSpec:
    name: str                  # IDNA ASCII, lowercase
    key: str                   # as written in the document
    accounts: dict[str, AccountSpec] = field(default_factory=dict)
    aliases: dict[str, AliasSpec] = field(default_factory=dict)


@dataclass
class Document:
    source: str
    domains: dict[str, DomainSpec] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(d.accounts) + len(d.aliases) for d in self.domains.values())


def parse_document(raw: bytes, source: str, problems: list[Problem] | None = None
                   ) -> Document:
    """Parse and check a whole document; raises DocumentError listing every problem. With
    `problems`, the problems of a readable document are appended there instead (the parts
    that were fine are returned, so checks against the store can report theirs too)."""
    collect = problems is not None
    problems = problems if problems is not None else []

    def problem(domain: str | None, where: str | None, message: str) -> None:
        problems.append(Problem(source, domain, where, message))

    if len(raw) > MAX_DOCUMENT_BYTES:
        raise DocumentError([Problem(source, None, None,
                                     f"larger than {MAX_DOCUMENT_BYTES} bytes")])
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DocumentError([Problem(source, None, None, f"not valid JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise DocumentError([Problem(source, None, None,
                                     "expected a JSON object with a key per domain")])
    doc = Document(source)
    for key, value in data.items():
        try:
            name = normalize_domain(key)
        except InvalidValue as exc:
            problem(key, None, f"not a valid (internationalised) domain name: {exc}")
            continue
        if name in doc.domains:
            problem(key, None, f"duplicate domain (same as {doc.domains[name].key!r})")
            continue
        spec = DomainSpec(name, key)
        doc.domains[name] = spec
        if not isinstance(value, dict):
            problem(key, None, "expected an object with `account` and `alias` lists")
            continue
        for unknown in sorted(set(value) - set(DOMAIN_KEYS)):
            problem(key, unknown, "unknown key (expected account, alias)")
        def report(where: str, message: str, key: str = key) -> None:
            problem(key, where, message)

        _accounts(spec, value.get("account", []), report)
        _aliases(spec, value.get("alias", []), report)
        for alias in spec.aliases.values():
            if alias.name in spec.accounts:
                problem(key, f"alias[{alias.index}].name",
                        f"{alias.name!r} is also an account of this domain")
    if problems and not collect:
        raise DocumentError(problems)
    return doc


def _items(kind: str, value: object, keys: tuple[str, ...], report: Any
           ) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        report(kind, "expected a list")
        return []
    out = []
    for index, item in enumerate(value):
        where = f"{kind}[{index}]"
        if not isinstance(item, dict):
            report(where, "expected an object")
            continue
        unknown = sorted(set(item) - set(keys))
        for key in unknown:
            report(f"{where}.{key}", f"unknown key (expected {', '.join(keys)})")
        missing = [k for k in keys if k not in item]
        for key in missing:
            report(f"{where}.{key}", "missing")
        bad = [k for k in keys if k in item and not isinstance(item[k], str)]
        for key in bad:
            report(f"{where}.{key}", "expected a string")
        if not missing and not bad:  # checked further (an unknown key refuses the whole anyway)
            out.append((index, item))
    return out


def _local_name(raw: str) -> str:
    """A name as the document gives it: the local part, lowercased (addresses are)."""
    return check_username(raw.strip().lower())


def _accounts(spec: DomainSpec, value: object, report: Any) -> None:
    for index, item in _items("account", value, ACCOUNT_KEYS, report):
        where = f"account[{index}]"
        try:
            name = _local_name(item["name"])
        except InvalidValue as exc:
            report(f"{where}.name", str(exc))
            name = None
        try:
            password = check_hash(item["password"])
        except ValueError as exc:
            report(f"{where}.password", str(exc))
            password = None
        if name is None or password is None:
            continue
        if name in spec.accounts:
            report(f"{where}.name",
                   f"duplicate account {name!r} (also account[{spec.accounts[name].index}])")
            continue
        spec.accounts[name] = AccountSpec(name, password, index)


def parse_targets(raw: str) -> tuple[str, ...]:
    """`a@x, b@y` -> normalised addresses in order, without duplicates (InvalidValue)."""
    parts = [p.strip() for p in raw.split(",")]
    if not any(parts):
        raise InvalidValue("no recipient given")
    if len(parts) > MAX_TARGETS:
        raise InvalidValue(f"more than {MAX_TARGETS} recipients")
    out: dict[str, None] = {}
    for part in parts:
        if not part:
            raise InvalidValue("an empty recipient between commas")
        if "@" not in part:
            raise InvalidValue(f"{part!r} is not an e-mail address")
        try:
            out[normalize_address(part)] = None
        except (InvalidValue, UnsafeName) as exc:
            raise InvalidValue(str(exc)) from None
    return tuple(out)


def _aliases(spec: DomainSpec, value: object, report: Any) -> None:
    for index, item in _items("alias", value, ALIAS_KEYS, report):
        where = f"alias[{index}]"
        try:
            name = normalize_address(f"{item['name'].strip()}@{spec.name}").partition("@")[0]
            if "@" in item["name"]:
                raise InvalidValue("give the part before @ only")
        except (InvalidValue, UnsafeName) as exc:
            report(f"{where}.name", str(exc))
            name = None
        try:
            targets = parse_targets(item["to"])
        except InvalidValue as exc:
            report(f"{where}.to", str(exc))
            targets = None
        if name is None or targets is None:
            continue
        if name in spec.aliases:
            report(f"{where}.name",
                   f"duplicate alias {name!r} (also alias[{spec.aliases[name].index}])")
            continue
        spec.aliases[name] = AliasSpec(name, targets, index)
