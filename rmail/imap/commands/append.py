"""APPEND with UIDPLUS APPENDUID, APPENDLIMIT (RFC 7889), BINARY literal8 and UTF8 (RFC 6855)."""

from __future__ import annotations

from rmail.imap.commands.base import Done
from rmail.imap.errors import ImapNo
from rmail.imap.session import Session
from rmail.imap.syntax import Append
from rmail.mail.binary import seven_bit_safe
from rmail.store.errors import NotFound


async def append(s: Session, args: Append) -> Done:
    assert s.mailbox is not None and s.principal is not None
    if len(args.message) > s.limits.appendlimit:
        raise ImapNo(f"message is larger than APPENDLIMIT {s.limits.appendlimit}", "TOOBIG")
    try:
        folder = await s.run(s.mailbox.folder, args.mailbox)
    except NotFound:
        raise ImapNo(f"no mailbox {args.mailbox!r}", "TRYCREATE") from None
    account = await s.run(s.core.accounts.get, s.principal.domain, s.principal.username)
    message = args.message
    if args.binary:  # RFC 3516 §4.4: stored so that BODY[] can be served without NULs
        message = await s.run(seven_bit_safe, message)
    result = await s.run(folder.append, message, args.flags, args.date,
                         quota_bytes=account.quota_bytes)
    uidvalidity = (await s.run(folder.status)).uidvalidity
    return Done(code=f"APPENDUID {uidvalidity} {result.uid}")
