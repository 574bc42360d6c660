"""SEARCH evaluation (RFC 3501 §6.4.4, RFC 7162 MODSEQ, RFC 5182 `$`).

Criteria are evaluated set-wise over candidate rows: every node narrows a list of candidates,
AND children run cheapest first (flags, sizes, dates and numbers come from the index columns;
header keys read the message header; BODY/TEXT use the full-text index or decode text
parts), so `UID SEARCH UNSEEN` over a large folder is one pass over a column and an expensive
key only looks at messages the cheap keys left. Runs in a worker thread.

BODY and TEXT, deliberately two ways. When the other keys left at most `SCAN_LIMIT`
candidates, each is read and the string looked for as a substring (RFC 3501 §6.4.4, what
Dovecot does without an FTS plugin, and what Dovecot's ImapTest checks). Beyond that the
user's full-text index (`rmail.store.searchindex`, kept by the server's indexer) answers as
Dovecot with an FTS plugin does: the string's words as a phrase, the last a prefix, case and
diacritics folded, so `BODY meet` finds "meeting" but `BODY eeting` does not. TEXT through the
index covers the addresses, the subject and the body, not other header fields. Messages the
index has not reached yet (newer than its last indexed UID), strings without a word to index,
and a missing or unreadable index fall back to reading the messages, so nothing indexed late
is missed.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import sqlite3
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rmail.imap.syntax import And, Not, Or, SearchKey, SearchNode
from rmail.mail.addresses import parse_addresses
from rmail.mail.headerkeys import (
    ADDRESS_SLOTS,
    F_SENT_DAY,
    F_SUBJECT,
    HEADER_SLOTS,
    address_text,
)
from rmail.mail.headers import (
    decode_base64,
    decode_qp,
    decode_text,
    header_text,
    param,
    parse_date,
    split_fields,
)
from rmail.mail.searchquery import fts_prefix_phrase
from rmail.store.errors import CorruptStore, NotFound
from rmail.store.headercache import Record
from rmail.store.journal import FolderIndex
from rmail.store.mailbox import Folder
from rmail.store.searchindex import search_index

log = logging.getLogger(__name__)

MAX_HEADER = 1024 * 1024
MAX_FIELDS = 10_000  # header fields of one message a HEADER/TEXT search looks at
SCAN_LIMIT = 1000  # BODY/TEXT candidates read directly (exact substrings); more: the index
_SYSTEM = {"ANSWERED": "\\Answered", "DELETED": "\\Deleted", "DRAFT": "\\Draft",
           "FLAGGED": "\\Flagged", "SEEN": "\\Seen"}
_HEADER_KEYS = {"BCC", "CC", "FROM", "SUBJECT", "TO", "HEADER", "SENTBEFORE", "SENTON",
                "SENTSINCE", "EMAILID", "THREADID"}  # (and the object ids: a stat each)


@dataclass
class Columns:
    """The index rows of the messages in a session's view, aligned by row number; `seqs`
    are the sequence numbers the session gives them (gone messages have no row)."""

    seqs: list[int]
    uids: list[int]
    fids: list[int]
    sizes: list[int]
    dates: list[int]
    modseqs: list[int]
    flagsets: list[tuple[str, ...]]
    view_len: int = 0
    top_uid: int = 0


def gather(idx: FolderIndex, view: array[int]) -> Columns:
    """Call under `Folder.read_index`."""
    n = len(view)
    flagsets = list(idx.flagsets)
    if len(idx.uids) >= n and idx.uids[:n] == view:  # nothing gone: the rows are the prefix
        return Columns(list(range(1, n + 1)), view.tolist(), idx.flag_ids[:n].tolist(),
                       idx.sizes[:n].tolist(), idx.dates[:n].tolist(),
                       idx.modseqs[:n].tolist(), flagsets, n, view[-1] if n else 0)
    cols = Columns([], [], [], [], [], [], flagsets, n, view[-1] if n else 0)
    iuids = idx.uids
    for seq, uid in enumerate(view, 1):
        i = bisect_left(iuids, uid)
        if i < len(iuids) and iuids[i] == uid:
            cols.seqs.append(seq)
            cols.uids.append(uid)
            cols.fids.append(idx.flag_ids[i])
            cols.sizes.append(idx.sizes[i])
            cols.dates.append(idx.dates[i])
            cols.modseqs.append(idx.modseqs[i])
    return cols


def _cost(node: SearchNode) -> int:
    if isinstance(node, SearchKey):
        if node.name in ("BODY", "TEXT"):
            return 2
        return 1 if node.name in _HEADER_KEYS else 0
    if isinstance(node, Not):
        return _cost(node.key)
    if isinstance(node, Or):
        return max(_cost(node.left), _cost(node.right))
    return max((_cost(k) for k in node.keys), default=0)


def _cache_slot(key: SearchKey) -> int | None:
    """The header-cache slot that answers a FROM/TO/CC/BCC/SUBJECT/HEADER key, if any."""
    if key.name in ADDRESS_SLOTS:
        return ADDRESS_SLOTS[key.name]
    if key.name == "SUBJECT":
        return F_SUBJECT
    if key.name == "HEADER":
        return HEADER_SLOTS.get(str(key.value[0]).lower())  # type: ignore[index]
    return None


def _utc_day(epoch: int) -> int:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).date().toordinal()


@dataclass
class Searcher:
    folder: Folder
    cols: Columns
    saved: set[int] = field(default_factory=set)
    now: float = field(default_factory=time.time)
    recent: set[int] = field(default_factory=set)  # UIDs \Recent in the searching session
    use_index: bool = True  # BODY/TEXT over more than SCAN_LIMIT candidates from the index
    _headers: dict[int, list[tuple[bytes, str]]] = field(default_factory=dict)
    _meta: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    _records: list[Record | None] | None = None

    def record(self, i: int) -> Record | None:
        """Row `i`'s header-cache record (`rmail.mail.headerkeys`); None when the message
        could not be parsed, and then the keys read its header instead."""
        if self._records is None:
            self._records = self.folder.header_records(self.cols.uids)
        return self._records[i]

    def run(self, criteria: SearchNode) -> list[int]:
        """Row numbers of the matching messages, ascending."""
        return self.eval(criteria, list(range(len(self.cols.uids))))

    def eval(self, node: SearchNode, cand: list[int]) -> list[int]:
        if not cand:
            return cand
        if isinstance(node, And):
            for child in sorted(node.keys, key=_cost):
                cand = self.eval(child, cand)
                if not cand:
                    break
            return cand
        if isinstance(node, Or):
            left = self.eval(node.left, cand)
            taken = set(left)
            right = self.eval(node.right, [c for c in cand if c not in taken])
            return sorted(left + right)
        if isinstance(node, Not):
            excluded = set(self.eval(node.key, cand))
            return [c for c in cand if c not in excluded]
        if self._columnar(node):
            return self._column_filter(node, cand)
        if node.name in ("BODY", "TEXT") and self.use_index and len(cand) > SCAN_LIMIT:
            found = self._index_filter(node, cand)
            if found is not None:
                return found
        slot = _cache_slot(node)
        if slot is not None:
            return self._cache_filter(node, slot, cand)
        pred = self.predicate(node)
        return [c for c in cand if pred(c)]

    # -- keys answered from the index columns -----------------------------------------------
    def _columnar(self, key: SearchKey) -> bool:
        return _cost(key) == 0

    def _flag_ids(self, test: Callable[[tuple[str, ...]], bool]) -> set[int]:
        return {fid for fid, fs in enumerate(self.cols.flagsets) if test(fs)}

    def _column_filter(self, key: SearchKey, cand: list[int]) -> list[int]:
        c = self.cols
        name, value = key.name, key.value
        if name == "ALL":
            return cand
        if name in ("RECENT", "NEW", "OLD"):  # NEW is RECENT UNSEEN (RFC 3501 §6.4.4)
            recent, uids = self.recent, c.uids
            if name == "OLD":
                return [i for i in cand if uids[i] not in recent]
            cand = [i for i in cand if uids[i] in recent]
            if name == "NEW":
                seen = self._flag_ids(lambda fs: "\\Seen" in fs)
                cand = [i for i in cand if c.fids[i] not in seen]
            return cand
        if name in _SYSTEM or (name.startswith("UN") and name[2:] in _SYSTEM):
            flag = _SYSTEM[name.removeprefix("UN")]
            ok = self._flag_ids(lambda fs: (flag in fs) != name.startswith("UN"))
            fids = c.fids
            return [i for i in cand if fids[i] in ok]
        if name in ("KEYWORD", "UNKEYWORD"):
            kw = str(value).lower()
            ok = self._flag_ids(lambda fs: any(f.lower() == kw for f in fs)
                                != (name == "UNKEYWORD"))
            fids = c.fids
            return [i for i in cand if fids[i] in ok]
        if name == "LARGER":
            return [i for i in cand if c.sizes[i] > int(value)]  # type: ignore[call-overload]
        if name == "SMALLER":
            return [i for i in cand if c.sizes[i] < int(value)]  # type: ignore[call-overload]
        if name == "MODSEQ":
            return [i for i in cand if c.modseqs[i] >= int(value)]  # type: ignore[call-overload]
        if name in ("BEFORE", "ON", "SINCE"):
            day = int(value)  # type: ignore[call-overload]
            test = {"BEFORE": day.__gt__, "ON": day.__eq__, "SINCE": day.__le__}[name]
            return [i for i in cand if test(_utc_day(c.dates[i]))]
        if name in ("OLDER", "YOUNGER"):
            limit = self.now - int(value)  # type: ignore[call-overload]
            if name == "OLDER":
                return [i for i in cand if c.dates[i] <= limit]
            return [i for i in cand if c.dates[i] >= limit]
        if name == "SEQ":
            seqset = value
            if seqset.saved:  # type: ignore[attr-defined]
                return [i for i in cand if c.uids[i] in self.saved]
            return [i for i in cand
                    if seqset.contains_uid(c.seqs[i], c.view_len)]  # type: ignore[attr-defined]
        if name == "UID":
            uidset = value
            if uidset.saved:  # type: ignore[attr-defined]
                return [i for i in cand if c.uids[i] in self.saved]
            return [i for i in cand
                    if uidset.contains_uid(c.uids[i], c.top_uid)]  # type: ignore[attr-defined]
        raise ValueError(f"unknown search key {name}")

    # -- BODY/TEXT from the full-text index -------------------------------------------------
    def _index_filter(self, key: SearchKey, cand: list[int]) -> list[int] | None:
        """Candidates the index matches, plus those it has not reached yet that match when
        read; None when the index cannot answer (then every candidate is read)."""
        match = fts_prefix_phrase(str(key.value), "body" if key.name == "BODY" else None)
        if match is None:
            return None
        try:
            index = search_index(self.folder.owner)
            through = index.indexed_through(self.folder.id)
            if through is None or through[0] != self.folder.uidvalidity:
                return None
            found = index.folder_matches(self.folder.id, match)
        except (ValueError, sqlite3.Error, CorruptStore, NotFound, OSError) as exc:
            log.warning("search index not used for %s: %s", key.name, exc)
            return None
        last, uids = through[1], self.cols.uids
        out = [c for c in cand if uids[c] <= last and uids[c] in found]
        late = [c for c in cand if uids[c] > last]
        if late:
            pred = self.predicate(key)
            out.extend(c for c in late if pred(c))
        return out

    # -- keys that read the message ---------------------------------------------------------
    def predicate(self, key: SearchKey) -> Callable[[int], bool]:
        name, value = key.name, key.value
        if name in ADDRESS_SLOTS:
            return self._cached(ADDRESS_SLOTS[name], str(value).casefold(),
                                functools.partial(self._address_contains, name=name.lower()))
        if name == "SUBJECT":
            return self._cached(F_SUBJECT, str(value).casefold(),
                                functools.partial(self._field_contains, name=b"subject"))
        if name == "HEADER":
            assert isinstance(value, tuple)
            fname, text = value[0].lower(), value[1].casefold()
            by_file = functools.partial(self._field_contains, name=fname.encode())
            slot = HEADER_SLOTS.get(fname)
            if slot is None:
                return lambda i: by_file(i, needle=text)
            return self._cached(slot, text, by_file)
        if name in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            day = int(value)  # type: ignore[call-overload]
            test = {"SENTBEFORE": day.__gt__, "SENTON": day.__eq__,
                    "SENTSINCE": day.__le__}[name]
            return lambda i: test(self._sent_day(i))
        if name == "EMAILID":  # RFC 8474 §6
            return lambda i: self.folder.email_ids([self.cols.uids[i]])[0] == value
        if name == "THREADID":  # RFC 8474 §6
            return lambda i: self.folder.thread_id(self.cols.uids[i], self.record(i)) == value
        if name == "BODY":
            needle = str(value).casefold()
            return lambda i: needle in self._body_text(i)
        if name == "TEXT":
            needle = str(value).casefold()
            return lambda i: (needle in self._header_text(i)) or needle in self._body_text(i)
        raise ValueError(f"unknown search key {name}")

    def headers(self, i: int) -> list[tuple[bytes, str]]:
        """(lower-case name, decoded unfolded value) of every header field of row `i`."""
        got = self._headers.get(i)
        if got is not None:
            return got
        raw = self._read_header(self.cols.uids[i])
        # The decoding the header cache and the JSON API use (`header_text`): a folded value
        # reads with one space where it was folded, raw UTF-8 as UTF-8.
        fields = [(name.encode("ascii"), header_text(value))
                  for name, value in split_fields(raw, MAX_FIELDS)]
        self._headers[i] = fields
        return fields

    def _read_header(self, uid: int) -> bytes:
        try:
            f = self.folder.open_message(uid)
        except NotFound:
            return b""
        with f:
            data = b""
            while len(data) < MAX_HEADER:
                chunk = f.read(16384)
                if not chunk:
                    break
                data += chunk
                m = re.search(rb"\r?\n\r?\n", data)
                if m:
                    return data[:m.start()]
            return data[:MAX_HEADER]

    def _field_contains(self, i: int, name: bytes, needle: str) -> bool:
        found = False
        for fname, value in self.headers(i):
            if fname == name:
                found = True
                if needle in value.casefold():
                    return True
        return found and needle == ""

    def _cache_filter(self, key: SearchKey, slot: int, cand: list[int]) -> list[int]:
        """A key the header cache answers, over all candidates at once; a message without a
        record is tested by reading its header."""
        self.record(0)
        recs = self._records
        assert recs is not None
        needle = str(key.value[1] if key.name == "HEADER" else key.value).casefold()  # type: ignore[index]
        out = []
        missing = False
        for c in cand:
            rec = recs[c]
            if rec is None:
                missing = True
                out.append(c)
                continue
            value = rec[slot]
            if value is not None and needle in value.casefold():
                out.append(c)
        if missing:
            pred = self.predicate(key)
            out = [c for c in out if recs[c] is not None or pred(c)]
        return out

    def _cached(self, slot: int, needle: str, by_file: Callable[..., bool]
                ) -> Callable[[int], bool]:
        """A substring test on one slot of the header cache (None: the field is absent);
        `by_file` answers for a message without a record."""
        def test(i: int) -> bool:
            rec = self.record(i)
            if rec is None:
                return by_file(i, needle=needle)
            value = rec[slot]
            return value is not None and needle in value.casefold()
        return test

    def _address_contains(self, i: int, name: str, needle: str) -> bool:
        """Address keys match the parsed addresses written out again (`Name <a@b>`), so
        comments and routes inside the address do not hide it (as in Dovecot)."""
        bname = name.encode()
        return any(needle in (address_text(parse_addresses(value)) or "").casefold()
                   for fname, value in self.headers(i) if fname == bname)

    def _header_text(self, i: int) -> str:
        return "\n".join(f"{n.decode('latin-1')}: {v}" for n, v in self.headers(i)).casefold()

    def _sent_day(self, i: int) -> int:
        rec = self.record(i)
        if rec is not None:
            day = rec[F_SENT_DAY]
            return day if day is not None else _utc_day(self.cols.dates[i])
        for fname, value in self.headers(i):
            if fname == b"date":
                iso = parse_date(value)
                if iso:
                    return dt.datetime.fromisoformat(iso).date().toordinal()
                break
        return _utc_day(self.cols.dates[i])

    def meta(self, i: int) -> dict[str, Any] | None:
        if i not in self._meta:
            try:
                self._meta[i] = self.folder.meta(self.cols.uids[i])
            except (NotFound, CorruptStore, OSError):
                self._meta[i] = None
        return self._meta[i]

    def _body_text(self, i: int) -> str:
        meta = self.meta(i)
        uid = self.cols.uids[i]
        try:
            f = self.folder.open_message(uid)
        except NotFound:
            return ""
        texts: list[str] = []
        with f:
            if meta is None or "body" not in meta:
                data = f.read()
                return data.decode("utf-8", "replace").casefold()
            for part in _text_parts(meta["body"]):
                start, length = part["body"]
                f.seek(start)
                data = _transfer_decode(f.read(length), part.get("encoding") or "7BIT")
                texts.append(decode_text(data, param(part.get("params"), "charset")))
        return "\n".join(texts).casefold()


def _text_parts(node: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        part = stack.pop()
        if "parts" in part:
            stack.extend(reversed(part["parts"]))
        elif part.get("message"):
            stack.append(part["message"]["body"])
        elif part.get("type") == "text":
            out.append(part)
    return out


def _transfer_decode(data: bytes, encoding: str) -> bytes:
    enc = encoding.upper()
    if enc == "BASE64":
        return decode_base64(data)
    if enc == "QUOTED-PRINTABLE":
        return decode_qp(data)
    return data
