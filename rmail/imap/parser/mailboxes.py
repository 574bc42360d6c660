"""Parsers of the commands on mailboxes: SELECT/EXAMINE (with QRESYNC), CREATE, DELETE,
RENAME, SUBSCRIBE, LIST, LSUB, STATUS, APPEND (MULTIAPPEND, CATENATE), the quota commands and
GETMETADATA/SETMETADATA."""

from __future__ import annotations

from rmail.imap.parser.reader import MAX_MODSEQ, Parser, Reader
from rmail.imap.syntax import (
    Append,
    AppendMessage,
    CatPart,
    Create,
    GetMetadata,
    GetQuota,
    ListCmd,
    Mailbox,
    QResync,
    Rename,
    Select,
    SetMetadata,
    SetQuota,
    Status,
)

MAX_METADATA_ENTRIES = 100  # entries named in one GETMETADATA or SETMETADATA


def _metadata_mailbox(r: Reader) -> str:
    raw = r.astring()
    return "" if raw == b"" else r.mailbox_name(raw)


def _entry(r: Reader) -> str:
    return r.text(r.astring(), "entry name")


def _setmetadata(r: Reader) -> SetMetadata:
    r.sp()
    mailbox = _metadata_mailbox(r)
    r.sp()
    r.expect(b"(")
    entries: list[tuple[str, bytes | None]] = []
    while True:
        if len(entries) >= MAX_METADATA_ENTRIES:
            raise r.fail(f"more than {MAX_METADATA_ENTRIES} entries")
        name = _entry(r)
        r.sp()
        if r.maybe_ci(b"NIL"):
            value = None
        elif r.peek() == 0x7E:
            value = r.literal(allow8=True)
        else:
            value = r.string()
        entries.append((name, value))
        if r.maybe(b")"):
            break
        r.sp()
    return SetMetadata(mailbox, tuple(entries))


def _getmetadata(r: Reader) -> GetMetadata:
    r.sp()
    maxsize: int | None = None
    depth: int | None = 0
    if r.maybe(b"("):
        while True:
            opt = r.keyword()
            r.sp()
            if opt == "MAXSIZE" and maxsize is None:
                maxsize = r.number()
            elif opt == "DEPTH":
                word = r.atom().upper()
                if word not in ("0", "1", "INFINITY"):
                    raise r.fail("DEPTH is 0, 1 or infinity")
                depth = None if word == "INFINITY" else int(word)
            else:
                raise r.fail(f"unknown GETMETADATA option {opt}")
            if r.maybe(b")"):
                break
            r.sp()
        r.sp()
    mailbox = _metadata_mailbox(r)
    r.sp()
    names: list[str] = []
    if r.maybe(b"("):
        names.append(_entry(r))
        while r.maybe(b" "):
            if len(names) >= MAX_METADATA_ENTRIES:
                raise r.fail(f"more than {MAX_METADATA_ENTRIES} entries")
            names.append(_entry(r))
        r.expect(b")")
    else:
        names.append(_entry(r))
    return GetMetadata(mailbox, tuple(names), maxsize, depth)



def _select(readonly: bool) -> Parser:
    def parse(r: Reader) -> Select:
        r.sp()
        name = r.mailbox()
        condstore = False
        qresync = None
        if r.maybe(b" "):
            r.expect(b"(")
            while True:
                param = r.keyword()
                if param == "CONDSTORE":
                    condstore = True
                elif param == "QRESYNC":
                    r.sp()
                    qresync = _qresync(r)
                else:
                    raise r.fail(f"unknown SELECT parameter {param}")
                if r.maybe(b")"):
                    break
                r.sp()
        return Select(name, readonly, condstore, qresync)

    return parse


def _qresync(r: Reader) -> QResync:
    r.expect(b"(")
    uidvalidity = r.nz_number()
    r.sp()
    modseq = r.modseq()
    known = None
    match = None
    if r.maybe(b" "):
        if r.peek() != 0x28:
            known = r.sequence_set()
            if known.saved:
                raise r.fail("$ is not allowed here")
            if r.maybe(b" ") and r.peek() != 0x28:
                raise r.fail("expected sequence match data")
        if r.peek() == 0x28:
            r.expect(b"(")
            seqs = r.sequence_set()
            r.sp()
            uids = r.sequence_set()
            r.expect(b")")
            if seqs.saved or uids.saved:
                raise r.fail("$ is not allowed here")
            match = (seqs, uids)
    r.expect(b")")
    return QResync(uidvalidity, modseq, known, match)


def _mailbox_only(r: Reader) -> Mailbox:
    r.sp()
    return Mailbox(r.mailbox())


def _create(r: Reader) -> Create:
    r.sp()
    name = r.mailbox()
    uses: list[str] = []
    if r.maybe(b" "):
        r.expect(b"(")
        while True:
            param = r.keyword()
            if param != "USE":
                raise r.fail(f"unknown CREATE parameter {param}")
            r.sp()
            r.expect(b"(")
            while True:
                r.expect(b"\\")
                uses.append("\\" + r.atom())
                if r.maybe(b")"):
                    break
                r.sp()
            if r.maybe(b")"):
                break
            r.sp()
    return Create(name, tuple(uses))


def _rename(r: Reader) -> Rename:
    r.sp()
    old = r.mailbox()
    r.sp()
    return Rename(old, r.mailbox())


LIST_SELECT = {"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"}
LIST_RETURN = {"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"}


def _list(r: Reader) -> ListCmd:
    r.sp()
    select: set[str] = set()
    extended = False
    if r.maybe(b"("):
        extended = True
        if not r.maybe(b")"):
            while True:
                opt = r.keyword()
                if opt not in LIST_SELECT:
                    raise r.fail(f"unknown LIST selection option {opt}")
                select.add(opt)
                if r.maybe(b")"):
                    break
                r.sp()
        r.sp()
        if select == {"RECURSIVEMATCH"} or ("RECURSIVEMATCH" in select
                                           and select <= {"RECURSIVEMATCH", "REMOTE"}):
            raise r.fail("RECURSIVEMATCH needs another selection option")  # RFC 5258 §3
    reference = r.mailbox_name(r.astring())
    r.sp()
    patterns: list[str | None] = []
    if r.maybe(b"("):
        extended = True
        patterns.append(r.list_mailbox())
        while r.maybe(b" "):
            patterns.append(r.list_mailbox())
        r.expect(b")")
    else:
        patterns.append(r.list_mailbox())
    returns: set[str] = set()
    status: tuple[str, ...] | None = None
    if r.maybe(b" "):
        extended = True
        if not r.maybe_ci(b"RETURN"):
            raise r.fail("expected RETURN")
        r.sp()
        r.expect(b"(")
        if not r.maybe(b")"):
            while True:
                opt = r.keyword()
                if opt not in LIST_RETURN:
                    raise r.fail(f"unknown LIST return option {opt}")
                if opt == "STATUS":
                    r.sp()
                    status = _status_items(r)
                returns.add(opt)
                if r.maybe(b")"):
                    break
                r.sp()
    return ListCmd(reference, tuple(p for p in patterns if p is not None), frozenset(select),
                   frozenset(returns), status, extended=extended)


def _lsub(r: Reader) -> ListCmd:
    r.sp()
    reference = r.mailbox_name(r.astring())
    r.sp()
    pattern = r.list_mailbox()
    return ListCmd(reference, () if pattern is None else (pattern,), lsub=True)


STATUS_ITEMS = {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ",
                "SIZE", "DELETED", "APPENDLIMIT", "MAILBOXID"}


def _status_items(r: Reader) -> tuple[str, ...]:
    r.expect(b"(")
    items: list[str] = []
    while True:
        item = r.keyword()
        if item not in STATUS_ITEMS:
            raise r.fail(f"unknown STATUS item {item}")
        items.append(item)
        if r.maybe(b")"):
            break
        r.sp()
    return tuple(dict.fromkeys(items))


def _status(r: Reader) -> Status:
    r.sp()
    name = r.mailbox()
    r.sp()
    return Status(name, _status_items(r))


MAX_APPEND_MESSAGES = 256  # MULTIAPPEND: messages in one command (one journal write)
MAX_CATENATE_PARTS = 100  # CATENATE: parts of one message


def _append(r: Reader) -> Append:
    """APPEND mailbox message [message ...] (MULTIAPPEND, RFC 3502), each message with its
    optional flags and date, as a literal (literal8 for BINARY, `UTF8 (...)` for RFC 6855) or
    `CATENATE (...)` (RFC 4469)."""
    r.sp()
    name = r.mailbox()
    r.sp()
    messages = [_append_message(r)]
    while r.maybe(b" "):
        if len(messages) >= MAX_APPEND_MESSAGES:
            raise r.fail(f"more than {MAX_APPEND_MESSAGES} messages in one APPEND")
        messages.append(_append_message(r))
    return Append(name, tuple(messages))


def _append_message(r: Reader) -> AppendMessage:
    flags: tuple[str, ...] = ()
    date = None
    if r.peek() == 0x28:
        flags = r.flag_list()
        r.sp()
    if r.peek() == 0x22:
        date = r.date_time()
        r.sp()
    flags = tuple(f for f in flags if f != "\\Recent")
    if r.maybe_ci(b"CATENATE"):
        r.sp()
        r.expect(b"(")
        parts: list[CatPart] = []
        while True:
            if len(parts) >= MAX_CATENATE_PARTS:
                raise r.fail(f"more than {MAX_CATENATE_PARTS} CATENATE parts")
            if r.maybe_ci(b"URL"):
                r.sp()
                parts.append(CatPart(url=r.text(r.astring(), "URL")))
            elif r.maybe_ci(b"TEXT"):
                r.sp()
                parts.append(CatPart(text=r.literal(allow8=True)))
            else:
                raise r.fail("expected URL or TEXT")
            if r.maybe(b")"):
                break
            r.sp()
        return AppendMessage(flags, date, b"", False, tuple(parts))
    binary = r.peek() == 0x7E
    if r.maybe_ci(b"UTF8"):  # RFC 6855 §4: UTF8 (literal8)
        r.sp()
        r.expect(b"(")
        binary = r.peek() == 0x7E
        message = r.literal(allow8=True)
        r.expect(b")")
    else:
        message = r.literal(allow8=True)
    return AppendMessage(flags, date, message, binary)



def _getquota(r: Reader) -> GetQuota:
    r.sp()
    return GetQuota(r.text(r.astring(), "quota root"))


def _setquota(r: Reader) -> SetQuota:
    r.sp()
    root = r.text(r.astring(), "quota root")
    r.sp()
    r.expect(b"(")
    limits = []
    if not r.maybe(b")"):
        while True:
            res = r.keyword()
            r.sp()
            limits.append((res, r.number(MAX_MODSEQ)))
            if r.maybe(b")"):
                break
            r.sp()
    return SetQuota(root, tuple(limits))



PARSERS: dict[str, Parser] = {
    "GETMETADATA": _getmetadata, "SETMETADATA": _setmetadata,
    "SELECT": _select(False), "EXAMINE": _select(True),
    "CREATE": _create, "DELETE": _mailbox_only, "RENAME": _rename,
    "SUBSCRIBE": _mailbox_only, "UNSUBSCRIBE": _mailbox_only,
    "LIST": _list, "LSUB": _lsub, "STATUS": _status, "APPEND": _append,
    "GETQUOTA": _getquota, "GETQUOTAROOT": _mailbox_only, "SETQUOTA": _setquota,
}
