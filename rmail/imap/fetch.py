"""FETCH data items rendered from the index and the delivery-time parse (`Folder.meta`).

ENVELOPE and BODYSTRUCTURE come from the meta dict, never from re-parsing the message.
`BODY[section]<partial>` and `BINARY[...]` look the part's byte range up in the meta and read
only those bytes of the stored file. Everything here runs in a worker thread (it reads files).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import IO, Any, NamedTuple

from rmail.imap import responses as r
from rmail.imap.errors import ImapNo
from rmail.imap.syntax import FetchAtt, Section
from rmail.mail.headers import decode_base64, decode_qp
from rmail.store.errors import CorruptStore, NotFound
from rmail.store.mailbox import Folder

Node = dict[str, Any]
_EMPTY_ENVELOPE = b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
_PLACEHOLDER = b'("text" "plain" NIL NIL NIL "7bit" 0 0)'
_MESSAGE = ("rfc822", "global")
_META_ATTS = {"ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822.HEADER", "RFC822.TEXT",
              "BINARY[]", "BINARY.SIZE[]"}


class Row(NamedTuple):
    """One message as the index has it, with the sequence number this session gives it."""

    seq: int
    uid: int
    flags: tuple[str, ...]
    size: int
    date: int
    modseq: int


INDEX_ONLY = {"UID", "FLAGS", "MODSEQ", "INTERNALDATE", "RFC822.SIZE"}
_INDEX_FORMATS = {"UID": b"UID %d", "FLAGS": b"FLAGS %s", "MODSEQ": b"MODSEQ (%d)",
                  "INTERNALDATE": b"INTERNALDATE %s", "RFC822.SIZE": b"RFC822.SIZE %d"}


def render_index_only(rows: list[Row], atts: tuple[FetchAtt, ...], condstore: bool) -> bytes:
    """FETCH responses for items the index answers alone (`UID FETCH 1:* (FLAGS)` and
    friends): one format string, cached flag lists and dates, no per-item calls."""
    names = list(dict.fromkeys(a.name for a in atts))
    if condstore:  # RFC 7162 §3.1: UID and MODSEQ in every FETCH response
        if "UID" not in names:
            names.insert(0, "UID")
        if "MODSEQ" not in names:
            names.append("MODSEQ")
    fmt = b"* %d FETCH (" + b" ".join(_INDEX_FORMATS[n] for n in names) + b")\r\n"
    flag_cache: dict[tuple[str, ...], bytes] = {}
    date_cache: dict[int, bytes] = {}
    out = []
    for row in rows:
        values: list[int | bytes] = [row.seq]
        for name in names:
            if name == "UID":
                values.append(row.uid)
            elif name == "FLAGS":
                fl = flag_cache.get(row.flags)
                if fl is None:
                    fl = flag_cache[row.flags] = r.flag_list(row.flags)
                values.append(fl)
            elif name == "MODSEQ":
                values.append(row.modseq)
            elif name == "RFC822.SIZE":
                values.append(row.size)
            else:
                d = date_cache.get(row.date)
                if d is None:
                    d = date_cache[row.date] = r.internaldate(row.date)
                values.append(d)
        out.append(fmt % tuple(values))
    return b"".join(out)


class Gone(Exception):
    """The message disappeared (expunged and reaped) while we were reading it."""


def needs_meta(att: FetchAtt) -> bool:
    if att.name == "BODY[]":
        sec = att.section
        return sec is not None and (bool(sec.part) or sec.text is not None)
    return att.name in _META_ATTS and not (att.name == "BINARY[]" and att.section is not None
                                           and not att.section.part)


def needs_file(att: FetchAtt) -> bool:
    return att.name in ("BODY[]", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "BINARY[]",
                        "BINARY.SIZE[]")


class Renderer:
    """Renders the FETCH response of one message after another for one command."""

    def __init__(self, folder: Folder, atts: tuple[FetchAtt, ...], *, utf8: bool,
                 modseq: bool, add_flags: bool = False) -> None:
        self.folder = folder
        self.atts = atts
        self.utf8 = utf8
        # RFC 7162 §3.1: once CONDSTORE is on, every FETCH response carries UID and MODSEQ
        self.modseq = modseq and not any(a.name == "MODSEQ" for a in atts)
        self.uid = modseq and not any(a.name == "UID" for a in atts)
        self.add_flags = add_flags
        self.meta_needed = any(needs_meta(a) for a in atts)
        self.file_needed = any(needs_file(a) for a in atts)
        self._flag_cache: dict[tuple[str, ...], bytes] = {}

    def flags(self, flags: tuple[str, ...]) -> bytes:
        out = self._flag_cache.get(flags)
        if out is None:
            out = self._flag_cache[flags] = r.flag_list(flags)
        return out

    def render(self, row: Row, *, show_flags: bool = False) -> bytes:
        """`* seq FETCH (...)`; raises Gone when the message vanished underneath."""
        meta = None
        if self.meta_needed:
            try:
                meta = self.folder.meta(row.uid)
            except (NotFound, FileNotFoundError) as exc:
                raise Gone from exc
            except CorruptStore:
                meta = None
        f: IO[bytes] | None = None
        try:
            if self.file_needed:
                try:
                    f = self.folder.open_message(row.uid)
                except NotFound as exc:
                    raise Gone from exc
            items = [self._item(att, row, meta, f) for att in self.atts]
        finally:
            if f is not None:
                f.close()
        if (show_flags or self.add_flags) and not any(a.name == "FLAGS" for a in self.atts):
            items.append(b"FLAGS " + self.flags(row.flags))
        if self.uid:
            items.insert(0, b"UID %d" % row.uid)
        if self.modseq:
            items.append(b"MODSEQ (%d)" % row.modseq)
        return b"* %d FETCH (" % row.seq + b" ".join(items) + b")\r\n"

    def _item(self, att: FetchAtt, row: Row, meta: Node | None, f: IO[bytes] | None) -> bytes:
        name = att.name
        if name == "UID":
            return b"UID %d" % row.uid
        if name == "FLAGS":
            return b"FLAGS " + self.flags(row.flags)
        if name == "MODSEQ":
            return b"MODSEQ (%d)" % row.modseq
        if name == "INTERNALDATE":
            return b"INTERNALDATE " + r.internaldate(row.date)
        if name == "RFC822.SIZE":
            return b"RFC822.SIZE %d" % row.size
        if name == "EMAILID":  # RFC 8474 §5.1
            email_id = self.folder.email_ids([row.uid])[0]
            if email_id is None:
                raise Gone
            return b"EMAILID (%s)" % email_id.encode()
        if name == "THREADID":  # RFC 8474 §5.2
            thread_id = self.folder.thread_id(row.uid, self.folder.header_records([row.uid])[0])
            if thread_id is None:
                raise Gone
            return b"THREADID (%s)" % thread_id.encode()
        if name == "ENVELOPE":
            env = meta.get("envelope") if meta else None
            return b"ENVELOPE " + (envelope(env, self.utf8) if env else _EMPTY_ENVELOPE)
        if name in ("BODYSTRUCTURE", "BODY"):
            body = meta.get("body") if meta else None
            ext = name == "BODYSTRUCTURE"
            return name.encode() + b" " + (body_structure(body, ext, self.utf8) if body
                                           else _PLACEHOLDER)
        assert f is not None
        if name == "RFC822":
            return b"RFC822 " + r.literal(_read(f, 0, row.size))
        if name == "RFC822.HEADER":
            return b"RFC822.HEADER " + r.literal(section_bytes(meta, f, row.size, Section(
                text="HEADER")) or b"")
        if name == "RFC822.TEXT":
            return b"RFC822.TEXT " + r.literal(section_bytes(meta, f, row.size, Section(
                text="TEXT")) or b"")
        section = att.section or Section()
        if name == "BODY[]":
            data = section_bytes(meta, f, row.size, section, att.partial)
            label = b"BODY[" + str(section).encode() + b"]"
            if att.partial is not None:
                label += b"<%d>" % att.partial[0]
            return label + b" " + (b"NIL" if data is None else r.literal(data))
        if name == "BINARY[]":
            data = binary_bytes(meta, f, row.size, section)
            label = b"BINARY[" + str(section).encode() + b"]"
            if att.partial is not None and data is not None:
                start, length = att.partial
                data = data[start:start + length]
                label += b"<%d>" % start
            return label + b" " + (b"NIL" if data is None else r.literal(data, binary=True))
        if name == "BINARY.SIZE[]":
            data = binary_bytes(meta, f, row.size, section)
            return b"BINARY.SIZE[" + str(section).encode() + b"] %d" % len(data or b"")
        raise AssertionError(name)


# -- ENVELOPE / BODYSTRUCTURE -----------------------------------------------------------------
def _addresses(addrs: list[list[str | None]] | None, utf8: bool) -> bytes:
    if not addrs:
        return b"NIL"
    return b"(" + b"".join(
        b"(" + b" ".join(r.nstring(part, utf8) for part in (list(a) + [None] * 4)[:4]) + b")"
        for a in addrs) + b")"


def envelope(env: Node, utf8: bool = False) -> bytes:
    """RFC 3501 §7.4.2 ENVELOPE from the parse's envelope dict."""
    s = r.nstring
    return b"(" + b" ".join((
        s(env.get("date"), utf8), s(env.get("subject"), utf8),
        _addresses(env.get("from"), utf8), _addresses(env.get("sender"), utf8),
        _addresses(env.get("reply_to"), utf8), _addresses(env.get("to"), utf8),
        _addresses(env.get("cc"), utf8), _addresses(env.get("bcc"), utf8),
        s(env.get("in_reply_to"), utf8), s(env.get("message_id"), utf8))) + b")"


def _params(params: list[list[str]] | None, utf8: bool) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(r.string(k, utf8) + b" " + r.string(v, utf8)
                            for k, v in params) + b")"


def _disposition(disp: list[Any] | None, utf8: bool) -> bytes:
    if not disp:
        return b"NIL"
    return b"(" + r.string(disp[0], utf8) + b" " + _params(disp[1], utf8) + b")"


def _language(lang: list[str] | None, utf8: bool) -> bytes:
    if not lang:
        return b"NIL"
    if len(lang) == 1:
        return r.string(lang[0], utf8)
    return b"(" + b" ".join(r.string(t, utf8) for t in lang) + b")"


def _extension(node: Node, utf8: bool) -> bytes:
    return b" ".join((_disposition(node.get("disposition"), utf8),
                      _language(node.get("language"), utf8),
                      r.nstring(node.get("location"), utf8)))


def body_structure(node: Node, ext: bool, utf8: bool = False) -> bytes:
    """BODYSTRUCTURE (`ext`) or BODY of one node of the parse (RFC 3501 §7.4.2)."""
    s = r.string
    if node.get("type") == "multipart":
        parts = node.get("parts") or []
        inner = b"".join(body_structure(p, ext, utf8) for p in parts) if parts else _PLACEHOLDER
        out = b"(" + inner + b" " + s(node.get("subtype", "mixed"), utf8)
        if ext:
            out += b" " + _params(node.get("params"), utf8) + b" " + _extension(node, utf8)
        return out + b")"
    ctype, subtype = node.get("type", "text"), node.get("subtype", "plain")
    fields = [s(ctype, utf8), s(subtype, utf8), _params(node.get("params"), utf8),
              r.nstring(node.get("id"), utf8), r.nstring(node.get("description"), utf8),
              s(node.get("encoding") or "7BIT", utf8), b"%d" % int(node.get("size", 0))]
    is_msg = ctype == "message" and (subtype == "rfc822" or (subtype == "global" and utf8))
    if is_msg:
        embedded = node.get("message")
        if embedded:
            fields.append(envelope(embedded.get("envelope") or {}, utf8))
            fields.append(body_structure(embedded["body"], ext, utf8))
        else:
            fields += [_EMPTY_ENVELOPE, _PLACEHOLDER]
        fields.append(b"%d" % int(node.get("lines", 0)))
    elif ctype == "text":
        fields.append(b"%d" % int(node.get("lines", 0)))
    if ext:
        fields.append(r.nstring(node.get("md5"), utf8))
        fields.append(_extension(node, utf8))
    return b"(" + b" ".join(fields) + b")"


# -- sections ---------------------------------------------------------------------------------
def find_part(meta: Node, part: tuple[int, ...]) -> Node | None:
    """The node a section-part names (RFC 3501 §6.4.5), or None."""
    node: Node = meta["body"]
    message_body = True  # `node` is the body of a message: its own part 1 when not multipart
    for i, n in enumerate(part):
        if node.get("type") == "multipart":
            parts = node.get("parts") or []
            if n > len(parts):
                return None
            node = parts[n - 1]
            message_body = False
        elif not (message_body and n == 1):
            return None
        else:
            message_body = False
        if i + 1 < len(part) and node.get("type") == "message" \
                and node.get("subtype") in _MESSAGE:
            inner = node.get("message")
            if not inner:
                return None
            node = inner["body"]
            message_body = True
    return node


def _read(f: IO[bytes], offset: int, length: int) -> bytes:
    if length <= 0:
        return b""
    f.seek(offset)
    return f.read(length)


def _range(span: list[int] | None, size: int) -> tuple[int, int]:
    if not span:
        return 0, 0
    start = max(0, min(int(span[0]), size))
    return start, max(0, min(int(span[1]), size - start))


def section_bytes(meta: Node | None, f: IO[bytes], size: int, section: Section,
                  partial: tuple[int, int] | None = None) -> bytes | None:
    """The bytes of BODY[section]<partial>, reading only what is needed; None for a part
    that does not exist."""
    if not section.part and section.text is None:
        start, length = 0, size
    else:
        if meta is None or "body" not in meta:
            return None
        node = find_part(meta, section.part) if section.part else meta["body"]
        if node is None:
            return None
        text = section.text
        if section.part and text in ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT"):
            if node.get("type") != "message" or not node.get("message"):
                return None
            node = node["message"]["body"]
        if text is None:
            start, length = _range(node.get("body"), size)
        elif text in ("MIME", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT"):
            start, length = _range(node.get("header"), size)
        else:  # TEXT
            start, length = _range(node.get("body"), size)
        if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
            data = filter_header(_read(f, start, length), section.fields,
                                 text == "HEADER.FIELDS.NOT")
            if partial is not None:
                return data[partial[0]:partial[0] + partial[1]]
            return data
    if partial is not None:
        skip = min(partial[0], length)
        start, length = start + skip, min(length - skip, partial[1])
    return _read(f, start, length)


_FIELD_START = re.compile(rb"^([^:\s]+)[ \t]*:", re.MULTILINE)


def filter_header(header: bytes, names: tuple[str, ...], exclude: bool) -> bytes:
    """The fields of `header` named (or, `exclude`, not named) in `names`, with their
    continuation lines, then the empty line that ends a header."""
    wanted = {n.upper().encode() for n in names}
    out: list[bytes] = []
    keep = False
    for line in header.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t"):
            if keep:
                out.append(line)
            continue
        m = _FIELD_START.match(line)
        keep = m is not None and ((m.group(1).upper() in wanted) != exclude)
        if keep:
            out.append(line if line.endswith(b"\n") else line + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "7BIT": bytes, "8BIT": bytes, "BINARY": bytes,
    "BASE64": decode_base64,
    "QUOTED-PRINTABLE": decode_qp,
}


def binary_bytes(meta: Node | None, f: IO[bytes], size: int, section: Section) -> bytes | None:
    """BINARY[part]: the part's content with its transfer encoding undone (RFC 3516)."""
    if not section.part:
        return _read(f, 0, size)
    if meta is None or "body" not in meta:
        return None
    node = find_part(meta, section.part)
    if node is None:
        return None
    start, length = _range(node.get("body"), size)
    raw = _read(f, start, length)
    if node.get("type") in ("multipart", "message"):
        return raw
    decoder = _DECODERS.get((node.get("encoding") or "7BIT").upper())
    if decoder is None:
        raise ImapNo(f"unknown Content-Transfer-Encoding {node.get('encoding')}",
                     "UNKNOWN-CTE")
    return decoder(raw)
