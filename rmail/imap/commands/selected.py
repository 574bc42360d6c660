"""Commands of the selected state that change what is selected or remove messages: CHECK,
CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE (UIDPLUS)."""

from __future__ import annotations

from rmail.imap.commands.base import Done
from rmail.imap.errors import ImapNo
from rmail.imap.session import Session
from rmail.imap.syntax import NoArgs, UidExpunge


async def check(s: Session, _: NoArgs) -> Done:
    return Done()


async def close(s: Session, _: NoArgs) -> Done:
    view = s.view()
    if not view.readonly:  # RFC 3501 §6.4.2: expunge silently
        await s.run(view.folder.expunge, None)
    s.deselect()
    return Done()


async def unselect(s: Session, _: NoArgs) -> Done:
    s.deselect()
    return Done()


def _require_writable(s: Session) -> None:
    if s.view().readonly:
        raise ImapNo("the mailbox is read-only (EXAMINE)", "READ-ONLY")


async def expunge(s: Session, _: NoArgs) -> Done:
    _require_writable(s)
    view = s.view()
    gone = await s.run(view.folder.expunge, None)
    s.announce_expunged(gone)
    return Done()


async def uid_expunge(s: Session, args: UidExpunge) -> Done:
    _require_writable(s)
    view = s.view()
    uids = [view.uids[p] for p in view.resolve(args.sequence, True, s.saved)]
    gone = await s.run(view.folder.expunge, uids, only_deleted=True) if uids else []
    s.announce_expunged(gone)
    return Done()
