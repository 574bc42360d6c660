"""COPY and MOVE (RFC 6851), with UIDPLUS COPYUID (RFC 4315)."""

from __future__ import annotations

from rmail.imap.commands.base import Done
from rmail.imap.errors import ImapNo
from rmail.imap.sequence import compress_ordered
from rmail.imap.session import Session
from rmail.imap.syntax import Copy
from rmail.store.errors import NotFound


async def _target(s: Session, name: str):  # type: ignore[no-untyped-def]
    assert s.mailbox is not None
    try:
        return await s.run(s.mailbox.folder, name)
    except NotFound:
        raise ImapNo(f"no mailbox {name!r}", "TRYCREATE") from None


async def _quota(s: Session) -> int:
    assert s.principal is not None
    account = await s.run(s.core.accounts.get, s.principal.domain, s.principal.username)
    return account.quota_bytes


async def copy(s: Session, args: Copy) -> Done:
    view = s.view()
    uids = [u for p in view.resolve(args.sequence, args.uid, s.saved)
            if (u := view.uids[p]) not in view.gone]
    dest = await _target(s, args.mailbox)
    if not uids:
        return Done()
    pairs = await s.run(view.folder.copy, uids, dest, quota_bytes=await _quota(s))
    if not pairs:
        raise ImapNo("the messages no longer exist", "EXPUNGEISSUED")
    uidvalidity = (await s.run(dest.status)).uidvalidity
    src = compress_ordered([a for a, _ in pairs])
    code = f"COPYUID {uidvalidity} {src} {compress_ordered([b for _, b in pairs])}"
    return Done(code=code)


async def move(s: Session, args: Copy) -> Done:
    view = s.view()
    if view.readonly:
        raise ImapNo("the mailbox is read-only (EXAMINE)", "READ-ONLY")
    uids = [u for p in view.resolve(args.sequence, args.uid, s.saved)
            if (u := view.uids[p]) not in view.gone]
    dest = await _target(s, args.mailbox)
    if not uids:
        return Done()
    pairs = await s.run(view.folder.move, uids, dest)  # usage does not grow: no quota check
    if pairs:
        uidvalidity = (await s.run(dest.status)).uidvalidity
        s.untagged(b"OK [COPYUID %d %s %s] Moved" % (
            uidvalidity, compress_ordered([a for a, _ in pairs]).encode(),
            compress_ordered([b for _, b in pairs]).encode()))
        s.announce_expunged([a for a, _ in pairs])
    return Done()
