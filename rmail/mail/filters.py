"""Delivery filters: the model (parse and validate, no I/O) and their evaluation against one
message. Storage lives in `rmail.store.mailrules`; `rmail.delivery.pipeline` applies the verdict.

The model follows WildDuck's filters: a ``query`` whose criteria must all match and an
``action``. It is kept to what a Sieve script (RFC 5228 with "fileinto", "imap4flags" and
"copy") can say, so a later Sieve import maps one to one:

    query.from/to/subject/listId  header :contains (From; To, Cc; Subject; List-Id)
    query.text                    body :text :contains (RFC 5173)
    query.hasAttachment           (no core test; an extension test in Sieve)
    query.size                    size :over N (positive) / size :under N (negative)
    action.seen / action.flag     addflag "\\\\Seen" / "\\\\Flagged"
    action.mailbox / action.spam  fileinto (a folder id / the \\\\Junk folder)
    action.delete                 discard
    action.targets                redirect :copy (each address)
    action.stop                   stop

Evaluation runs every enabled filter in order and accumulates the actions of those that
match (Sieve semantics): the first folder chosen wins, ``delete`` discards the message only
when no filter chose a folder, targets add up, ``stop`` ends the evaluation.
"""

from __future__ import annotations

import email
import html
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rmail.mail.headers import decode_header_bytes, decode_text, decode_words
from rmail.store.errors import InvalidValue

__all__ = [
    "MAX_FILTERS",
    "MAX_TARGETS",
    "Filter",
    "MessageFacts",
    "Verdict",
    "evaluate",
    "parse_action",
    "parse_filter",
    "parse_query",
]

MAX_FILTERS = 100  # per user
MAX_TARGETS = 10  # forward addresses of one filter
MAX_TEXT = 256  # characters of a query string or a name
MAX_BODY_TEXT = 1024 * 1024  # characters of body text a `text` query searches
QUERY_KEYS = ("from", "to", "subject", "listId", "text", "hasAttachment", "size")
ACTION_KEYS = ("seen", "flag", "delete", "spam", "mailbox", "targets", "stop")
FILTER_KEYS = ("id", "name", "query", "action", "disabled", "created")
_ID = re.compile(r"[a-f0-9]{24}")
_TAGS = re.compile(r"<[^>]*>")
MAX_HEADER = 256 * 1024  # bytes of the header block the header criteria read
_HEADER_NAMES = ("from", "to", "cc", "subject", "list-id")
_WANTED = re.compile(rb"^(from|to|cc|subject|list-id)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)",
                     re.IGNORECASE | re.MULTILINE)
_LINE_BREAK = re.compile(rb"\r?\n")


@dataclass(frozen=True)
class Filter:
    """One validated filter. Query strings are stored as given and matched case-folded."""

    id: str
    name: str
    query: Mapping[str, Any]
    action: Mapping[str, Any]
    disabled: bool = False
    created: str = ""

    def to_doc(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "query": dict(self.query),
                "action": {k: list(v) if k == "targets" else v for k, v in self.action.items()},
                "disabled": self.disabled, "created": self.created}

    @property
    def needs_body(self) -> bool:
        return "text" in self.query or "hasAttachment" in self.query


def new_filter_id() -> str:
    return secrets.token_hex(12)


def check_filter_id(value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidValue("a filter id is 24 lowercase hex digits")
    return value


def _text(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValue(f"{where} must be a string")
    value = value.strip()
    if not value:
        raise InvalidValue(f"{where} must not be empty")
    if len(value) > MAX_TEXT:
        raise InvalidValue(f"{where} is longer than {MAX_TEXT} characters")
    return value


def _flag(where: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(f"{where} must be true or false")
    return value


def _object(where: str, what: str, value: object, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidValue(f"{where} must be an object")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise InvalidValue(f"{where} has an unknown {what}: {unknown[0]} "
                           f"(known: {', '.join(keys)})")
    return value


def parse_query(value: object) -> dict[str, Any]:
    """A query object: every given criterion must match; an empty query matches every
    message (Sieve's `if true`)."""
    value = _object("query", "criterion", value, QUERY_KEYS)
    query: dict[str, Any] = {}
    for key in ("from", "to", "subject", "listId", "text"):
        if key in value:
            query[key] = _text(f"query.{key}", value[key])
    if "hasAttachment" in value:
        query["hasAttachment"] = _flag("query.hasAttachment", value["hasAttachment"])
    if "size" in value:
        size = value["size"]
        if isinstance(size, bool) or not isinstance(size, int) or size == 0 or \
                abs(size) > 2**53:
            raise InvalidValue("query.size must be a non-zero integer: bytes, positive for "
                               "larger than, negative for smaller than")
        query["size"] = size
    return query


def parse_action(value: object, *, check_address: Callable[[str], str] | None = None
                 ) -> dict[str, Any]:
    """An action object; at least one action, none contradicting another. ``check_address``
    normalises a forward target (raises InvalidValue)."""
    value = _object("action", "field", value, ACTION_KEYS)
    action: dict[str, Any] = {}
    for key in ("seen", "flag", "delete", "spam", "stop"):
        if key in value and _flag(f"action.{key}", value[key]):
            action[key] = True
    if "mailbox" in value:
        mailbox = value["mailbox"]
        if not isinstance(mailbox, str) or not 1 <= len(mailbox) <= MAX_TEXT:
            raise InvalidValue("action.mailbox must be a mailbox id")
        action["mailbox"] = mailbox
    if "targets" in value:
        targets = value["targets"]
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise InvalidValue("action.targets must be a list of e-mail addresses")
        if len(targets) > MAX_TARGETS:
            raise InvalidValue(f"action.targets has more than {MAX_TARGETS} addresses")
        checked = [check_address(t) if check_address else t for t in targets]
        if checked:
            action["targets"] = tuple(dict.fromkeys(checked))
    if not action:
        raise InvalidValue("action must do something: seen, flag, delete, spam, mailbox, "
                           "targets or stop")
    if "delete" in action and ("mailbox" in action or "spam" in action):
        raise InvalidValue("action.delete cannot be combined with mailbox or spam")
    if "mailbox" in action and "spam" in action:
        raise InvalidValue("action.mailbox and action.spam both choose a folder: pick one")
    return action


def parse_filter(doc: object, *, filter_id: str, created: str = "",
                 check_address: Callable[[str], str] | None = None) -> Filter:
    """A whole filter from a request or from disk: ``name`` (optional), ``query``,
    ``action``, ``disabled``."""
    if not isinstance(doc, dict):
        raise InvalidValue("a filter must be an object")
    unknown = sorted(set(doc) - set(FILTER_KEYS))
    if unknown:
        raise InvalidValue(f"filter has an unknown field: {unknown[0]}")
    name = doc.get("name", "")
    if not isinstance(name, str) or len(name) > MAX_TEXT:
        raise InvalidValue(f"name must be a string of at most {MAX_TEXT} characters")
    if "query" not in doc:
        raise InvalidValue("a filter needs a query (an empty object matches every message)")
    if "action" not in doc:
        raise InvalidValue("a filter needs an action")
    disabled = _flag("disabled", doc.get("disabled", False))
    return Filter(check_filter_id(filter_id), name.strip(), parse_query(doc["query"]),
                  parse_action(doc["action"], check_address=check_address), disabled,
                  created)


# -- the message side -----------------------------------------------------------------------
class MessageFacts:
    """What filters look at in one message, decoded lazily: the header fields on first use,
    the body text and attachments only when a filter asks for them."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.size = len(raw)
        self._headers: dict[str, str] | None = None
        self._body: tuple[str, bool] | None = None

    def header(self, name: str) -> str:
        if self._headers is None:
            self._headers = self._read_headers()
        return self._headers.get(name, "")

    def _read_headers(self) -> dict[str, str]:
        """Every From, To, Cc, Subject and List-Id field of the header block, unfolded and
        decoded (RFC 2047 words, UTF-8 or Latin-1 bytes), casefolded. One regular-expression
        pass over the header block: the standard library's header objects cost ten times
        more per delivery."""
        raw = self.raw
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            end = raw.find(b"\n\n")
        head = raw[:MAX_HEADER] if end < 0 else raw[:min(end + 2, MAX_HEADER)]
        out: dict[str, list[str]] = {name: [] for name in _HEADER_NAMES}
        for m in _WANTED.finditer(head):
            value = decode_header_bytes(_LINE_BREAK.sub(b"", m.group(2)))
            out[m.group(1).decode("ascii").lower()].append(decode_words(value.strip()))
        joined = {name: " ".join(values).casefold() for name, values in out.items()}
        joined["to"] = f"{joined['to']} {joined['cc']}"
        return joined

    def body(self) -> tuple[str, bool]:
        """(decoded text of the body parts, casefolded; has an attachment)."""
        if self._body is None:
            self._body = _body_of(self.raw)
        return self._body


def _body_of(raw: bytes) -> tuple[str, bool]:
    """(The decoded text of the body parts, casefolded; whether any part is an attachment).
    The compat32 parser: it does not build header objects, so it costs a fraction of the
    default policy's."""
    message = email.message_from_bytes(raw)
    texts: list[str] = []
    size = 0
    attachment = False
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = (part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
        if disposition == "attachment" or (part.get_filename() and disposition != "inline"):
            attachment = True
            continue
        if part.get_content_maintype() != "text" or size >= MAX_BODY_TEXT:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        content = decode_text(payload[:MAX_BODY_TEXT * 4], part.get_content_charset())
        if part.get_content_subtype() == "html":
            content = html.unescape(_TAGS.sub(" ", content))
        texts.append(content)
        size += len(content)
    return " ".join(texts)[:MAX_BODY_TEXT].casefold(), attachment


def matches(f: Filter, facts: MessageFacts) -> bool:
    q = f.query
    for key, header in (("from", "from"), ("to", "to"), ("subject", "subject"),
                        ("listId", "list-id")):
        if key in q and q[key].casefold() not in facts.header(header):
            return False
    if "size" in q:
        size = q["size"]
        if (size > 0 and facts.size <= size) or (size < 0 and facts.size >= -size):
            return False
    if "text" in q or "hasAttachment" in q:
        text, attachment = facts.body()
        if "hasAttachment" in q and attachment != q["hasAttachment"]:
            return False
        if "text" in q and q["text"].casefold() not in text:
            return False
    return True


@dataclass
class Verdict:
    """What the filters decided for one message and one mailbox."""

    mailbox: str | None = None  # a mailbox id chosen by `action.mailbox`
    spam: bool = False  # to the \\Junk folder (when no mailbox id was chosen first)
    flags: set[str] = field(default_factory=set)
    discard: bool = False
    targets: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)  # ids of the filters that matched

    @property
    def stored(self) -> bool:
        return not self.discard


def evaluate(filters: Sequence[Filter], facts: MessageFacts) -> Verdict:
    """Run ``filters`` in order (see the module docstring for how actions combine)."""
    verdict = Verdict()
    chose_folder = False
    delete = False
    for f in filters:
        if f.disabled or not matches(f, facts):
            continue
        verdict.matched.append(f.id)
        a = f.action
        if a.get("seen"):
            verdict.flags.add("\\Seen")
        if a.get("flag"):
            verdict.flags.add("\\Flagged")
        if not chose_folder and "mailbox" in a:
            verdict.mailbox, chose_folder = a["mailbox"], True
        elif not chose_folder and a.get("spam"):
            verdict.spam, chose_folder = True, True
        if a.get("delete"):
            delete = True
        verdict.targets.extend(t for t in a.get("targets", ()) if t not in verdict.targets)
        if a.get("stop"):
            break
    verdict.discard = delete and not chose_folder
    return verdict


def load_filters(docs: Iterable[Any]) -> list[Filter]:
    """Filters as stored (already validated when written; ids checked again)."""
    out = []
    for doc in docs:
        doc = dict(doc)
        filter_id = doc.pop("id", "")
        created = doc.pop("created", "")
        out.append(parse_filter(doc, filter_id=filter_id, created=created))
    return out
