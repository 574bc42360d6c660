"""APPEND with UIDPLUS APPENDUID, APPENDLIMIT (RFC 7889), BINARY literal8 and UTF8 (RFC 6855),
MULTIAPPEND (RFC 3502: several messages, all stored or none) and CATENATE (RFC 4469: a
message joined from literal text and IMAP URLs to parts of stored messages)."""

from __future__ import annotations

from rmail.imap.commands.base import Done
from rmail.imap.errors import ImapNo
from rmail.imap.fetch import section_bytes
from rmail.imap.imapurl import UrlError, parse_url
from rmail.imap.parser import ParseError, parse_section
from rmail.imap.sequence import compress_ordered
from rmail.imap.session import Session
from rmail.imap.syntax import Append, AppendMessage, CatPart
from rmail.mail.binary import seven_bit_safe
from rmail.store.errors import CorruptStore, NotFound
from rmail.store.mailbox import UserMailbox


def _url_bytes(mailbox: UserMailbox, user: str, url: str) -> bytes:
    """The bytes an IMAP URL names (RFC 5092), for CATENATE; ImapNo [BADURL] otherwise.
    Runs in a worker thread."""
    def bad(why: str) -> ImapNo:
        return ImapNo(f"{why}: {url[:200]}", f"BADURL {url[:200]}")

    try:
        u = parse_url(url)
        section = parse_section(u.section) if u.section else None
    except (UrlError, ParseError, UnicodeDecodeError) as exc:
        raise bad(f"invalid IMAP URL ({exc})") from None
    if u.user is not None and u.user.lower() not in (user.lower(), user.split("@")[0].lower()):
        raise bad("the URL names another user")
    try:
        folder = mailbox.folder(u.mailbox)
        if u.uidvalidity is not None and u.uidvalidity != folder.index().uidvalidity:
            raise bad("UIDVALIDITY does not match")
        rec = folder.record(u.uid)
        with folder.open_message(u.uid) as f:
            if section is None:
                data = f.read()
            else:
                meta = folder.meta(u.uid)
                got = section_bytes(meta, f, rec.size, section)
                if got is None:
                    raise bad("no such section")
                data = got
    except (NotFound, CorruptStore, OSError):
        raise bad("no such message") from None
    if u.partial is not None:
        start, length = u.partial
        data = data[start:] if length is None else data[start:start + length]
    return data


def _catenate(mailbox: UserMailbox, user: str, parts: tuple[CatPart, ...], limit: int) -> bytes:
    out: list[bytes] = []
    total = 0
    for part in parts:
        data = part.text if part.text is not None else _url_bytes(mailbox, user,
                                                                 part.url or "")
        total += len(data)
        if total > limit:
            raise ImapNo(f"message is larger than APPENDLIMIT {limit}", "TOOBIG")
        out.append(data)
    return b"".join(out)


def _build(mailbox: UserMailbox, user: str, msg: AppendMessage, limit: int) -> bytes:
    """The bytes to store for one message of the command; runs in a worker thread."""
    raw = msg.message if msg.catenate is None else _catenate(mailbox, user, msg.catenate, limit)
    if len(raw) > limit:
        raise ImapNo(f"message is larger than APPENDLIMIT {limit}", "TOOBIG")
    if not raw:
        raise ImapNo("empty message")
    if msg.binary or b"\x00" in raw:  # RFC 3516 §4.4: BODY[] must be servable without NULs
        raw = seven_bit_safe(raw)
    return raw


async def append(s: Session, args: Append) -> Done:
    assert s.mailbox is not None and s.principal is not None
    limit = s.limits.appendlimit
    try:
        folder = await s.run(s.mailbox.folder, args.mailbox)
    except NotFound:
        raise ImapNo(f"no mailbox {args.mailbox!r}", "TRYCREATE") from None
    user = f"{s.principal.username}@{s.principal.domain}"
    batch = []
    for msg in args.messages:  # every message is built before any is stored: all or none
        raw = await s.run(_build, s.mailbox, user, msg, limit)
        batch.append((raw, msg.flags, msg.date))
    account = await s.run(s.core.accounts.get, s.principal.domain, s.principal.username)
    results = await s.run(folder.append_many, batch, quota_bytes=account.quota_bytes)
    uidvalidity = (await s.run(folder.status)).uidvalidity
    return Done(code=f"APPENDUID {uidvalidity} {compress_ordered([x.uid for x in results])}")
