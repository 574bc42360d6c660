"""METADATA (RFC 5464): GETMETADATA and SETMETADATA on the server ("") and on mailboxes, stored
per user by `rmail.store.metadata`."""

from __future__ import annotations

from rmail.imap import responses as r
from rmail.imap.commands.base import Done
from rmail.imap.errors import ImapBad, ImapNo
from rmail.imap.session import Session
from rmail.imap.syntax import GetMetadata, SetMetadata
from rmail.store.errors import InvalidValue, NotFound
from rmail.store.mailbox import UserMailbox
from rmail.store.metadata import MAX_VALUE, SERVER, TooLarge, TooMany, check_entry


def _scope(mailbox: UserMailbox, name: str) -> str:
    """SERVER, or the id of the folder `name` (NotFound)."""
    if name == "":
        return SERVER
    entry = mailbox.entry(name)
    if entry.folder_id is None:
        raise NotFound(f"no mailbox {name!r}")
    return entry.folder_id


def _live(mailbox: UserMailbox) -> list[str]:
    return [e.folder_id for e in mailbox.entries() if e.folder_id is not None]


async def _resolve(s: Session, entries: list[str], name: str) -> tuple[list[str], str]:
    """The canonical entry names (BAD for an invalid one) and the scope of mailbox `name`."""
    assert s.mailbox is not None
    try:
        names = [check_entry(n) for n in entries]
    except InvalidValue as exc:
        raise ImapBad(str(exc)) from None
    try:
        return names, await s.run(_scope, s.mailbox, name)
    except NotFound:
        raise ImapNo(f"no mailbox {name!r}", "NONEXISTENT") from None


async def getmetadata(s: Session, args: GetMetadata) -> Done:
    assert s.mailbox is not None
    mailbox = s.mailbox
    names, scope = await _resolve(s, list(args.entries), args.mailbox)
    found = await s.run(mailbox.metadata.get, scope, names, args.depth)
    longest = 0
    items: list[bytes] = []
    for name in dict.fromkeys([*names, *sorted(found)]):
        value = found.get(name)
        if value is not None and args.maxsize is not None and len(value) > args.maxsize:
            longest = max(longest, len(value))
            continue
        if value is None and name not in names:
            continue
        rendered = b"NIL" if value is None else (
            r.literal(value, binary=True) if b"\x00" in value else r.string(value))
        items.append(r.astring(name) + b" " + rendered)
    if items:
        target = b'""' if args.mailbox == "" else s.mailbox_name(args.mailbox)
        s.untagged(b"METADATA " + target + b" (" + b" ".join(items) + b")")
    if longest:
        return Done(code=f"METADATA LONGENTRIES {longest}")
    return Done()


async def setmetadata(s: Session, args: SetMetadata) -> Done:
    assert s.mailbox is not None
    mailbox = s.mailbox
    names, scope = await _resolve(s, [n for n, _ in args.entries], args.mailbox)
    changes = dict(zip(names, (v for _, v in args.entries), strict=True))
    try:
        await s.run(mailbox.metadata.set, scope, changes, await s.run(_live, mailbox))
    except TooMany as exc:
        raise ImapNo(str(exc), "METADATA TOOMANY") from None
    except TooLarge as exc:
        raise ImapNo(str(exc), f"METADATA MAXSIZE {MAX_VALUE}") from None
    return Done()
