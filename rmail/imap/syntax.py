"""Typed IMAP commands: what `parser/` produces and the handlers in `commands/` consume.

Plain frozen dataclasses without behaviour, so a command can be built in a test and compared.
Mailbox names are already decoded (modified UTF-7 or UTF-8) to the store's `str` form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rmail.imap.sequence import SequenceSet


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed command line: `name` is upper-case, "UID FETCH" for UID commands."""

    tag: str
    name: str
    args: object = None


@dataclass(frozen=True, slots=True)
class NoArgs:
    pass


@dataclass(frozen=True, slots=True)
class Login:
    user: str
    password: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    mechanism: str  # upper-case
    initial: bytes | None  # SASL-IR; b"" for "="


@dataclass(frozen=True, slots=True)
class Enable:
    capabilities: tuple[str, ...]  # upper-case


@dataclass(frozen=True, slots=True)
class Id:
    params: tuple[tuple[str, str | None], ...] | None


@dataclass(frozen=True, slots=True)
class Compress:
    mechanism: str


@dataclass(frozen=True, slots=True)
class QResync:
    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None


@dataclass(frozen=True, slots=True)
class Select:
    mailbox: str
    readonly: bool  # EXAMINE
    condstore: bool = False
    qresync: QResync | None = None


@dataclass(frozen=True, slots=True)
class SetMetadata:
    """SETMETADATA (RFC 5464 §4.3): mailbox ("" for the server) and entry -> value (None
    removes it)."""

    mailbox: str
    entries: tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True, slots=True)
class GetMetadata:
    """GETMETADATA (RFC 5464 §4.2); `depth` None is "infinity"."""

    mailbox: str
    entries: tuple[str, ...]
    maxsize: int | None = None
    depth: int | None = 0


@dataclass(frozen=True, slots=True)
class CancelUpdate:
    """CANCELUPDATE (RFC 5267 §4.6): the tags of live searches to end."""

    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NotifyGroup:
    """One event group of NOTIFY SET (RFC 5465 §3): a mailbox filter (SELECTED,
    SELECTED-DELAYED, INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES) with its mailboxes,
    and the events wanted (upper-case; empty for NONE). `fetch` holds MessageNew's fetch
    attributes (RFC 5465 §5.2)."""

    filter: str
    mailboxes: tuple[str, ...]
    events: tuple[str, ...]
    fetch: tuple[FetchAtt, ...] = ()


@dataclass(frozen=True, slots=True)
class Notify:
    """NOTIFY NONE (`groups` None) or NOTIFY SET [STATUS] groups."""

    groups: tuple[NotifyGroup, ...] | None
    status: bool = False


@dataclass(frozen=True, slots=True)
class Mailbox:
    """Commands whose only argument is a mailbox (DELETE, SUBSCRIBE, GETQUOTAROOT, ...)."""

    mailbox: str


@dataclass(frozen=True, slots=True)
class Create:
    mailbox: str
    special_use: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rename:
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class ListCmd:
    """LIST (with RFC 5258 LIST-EXTENDED options) and LSUB (`lsub=True`)."""

    reference: str
    patterns: tuple[str, ...]
    select_opts: frozenset[str] = frozenset()
    return_opts: frozenset[str] = frozenset()
    status: tuple[str, ...] | None = None  # RFC 5819 RETURN (STATUS (...))
    lsub: bool = False
    extended: bool = False  # the client used LIST-EXTENDED syntax


@dataclass(frozen=True, slots=True)
class Status:
    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CatPart:
    """One part of a CATENATE (RFC 4469): literal `text`, or an IMAP `url` to (part of) a
    message already stored."""

    text: bytes | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class AppendMessage:
    """One message of an APPEND: the message itself, or (CATENATE) the parts to join."""

    flags: tuple[str, ...]
    date: int | None  # seconds since the epoch
    message: bytes
    binary: bool = False  # literal8 (RFC 3516)
    catenate: tuple[CatPart, ...] | None = None


@dataclass(frozen=True, slots=True)
class Append:
    """APPEND, with several messages under MULTIAPPEND (RFC 3502)."""

    mailbox: str
    messages: tuple[AppendMessage, ...]

    @property
    def flags(self) -> tuple[str, ...]:
        return self.messages[0].flags

    @property
    def date(self) -> int | None:
        return self.messages[0].date

    @property
    def message(self) -> bytes:
        return self.messages[0].message

    @property
    def binary(self) -> bool:
        return self.messages[0].binary


# -- SEARCH ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SearchKey:
    """One search key: `name` upper-case; `value` a str, int, flag, date (ordinal day),
    SequenceSet, (field, str) for HEADER, or a modseq for MODSEQ."""

    name: str
    value: object = None


@dataclass(frozen=True, slots=True)
class Not:
    key: SearchNode


@dataclass(frozen=True, slots=True)
class Or:
    left: SearchNode
    right: SearchNode


@dataclass(frozen=True, slots=True)
class And:
    keys: tuple[SearchNode, ...]


SearchNode = SearchKey | Not | Or | And


@dataclass(frozen=True, slots=True)
class Search:
    criteria: And
    charset: str | None = None
    return_opts: tuple[str, ...] | None = None  # None: plain SEARCH; () means ALL (RFC 4731)
    partial: tuple[int, int] | None = None  # RFC 5267 RETURN (PARTIAL first:last)


@dataclass(frozen=True, slots=True)
class Sort:
    keys: tuple[tuple[str, bool], ...]  # (key, reverse)
    charset: str
    criteria: And
    return_opts: tuple[str, ...] | None = None  # ESORT (RFC 5267); None: a SORT response
    partial: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Thread:
    algorithm: str
    charset: str
    criteria: And


# -- FETCH / STORE / COPY ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Section:
    part: tuple[int, ...] = ()
    text: str | None = None  # HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: tuple[str, ...] = ()  # upper-case header names

    def __str__(self) -> str:
        spec = ".".join(map(str, self.part))
        if self.text:
            spec = f"{spec}.{self.text}" if spec else self.text
        if self.fields:
            spec += " (" + " ".join(self.fields) + ")"
        return spec


@dataclass(frozen=True, slots=True)
class FetchAtt:
    """`name` is ENVELOPE, FLAGS, INTERNALDATE, RFC822, RFC822.HEADER, RFC822.SIZE,
    RFC822.TEXT, BODY, BODYSTRUCTURE, UID, MODSEQ, BODY[] (with section), BINARY[],
    BINARY.SIZE[]."""

    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None
    peek: bool = False


@dataclass(frozen=True, slots=True)
class Fetch:
    sequence: SequenceSet
    atts: tuple[FetchAtt, ...]
    uid: bool = False
    changedsince: int | None = None
    vanished: bool = False


@dataclass(frozen=True, slots=True)
class Store:
    sequence: SequenceSet
    mode: str  # "set", "add", "remove"
    flags: tuple[str, ...]
    silent: bool = False
    uid: bool = False
    unchangedsince: int | None = None


@dataclass(frozen=True, slots=True)
class Copy:
    sequence: SequenceSet
    mailbox: str
    uid: bool = False


@dataclass(frozen=True, slots=True)
class UidExpunge:
    sequence: SequenceSet


@dataclass(frozen=True, slots=True)
class GetQuota:
    root: str


@dataclass(frozen=True, slots=True)
class SetQuota:
    root: str
    limits: tuple[tuple[str, int], ...] = field(default=())
