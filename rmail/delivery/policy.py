"""Submission policy: may this account send, as this sender, to this many recipients?

Pure checks over an `Account` (re-read for every message, so an admin's change applies to the
next message of an open session) plus the 24-hour recipient counter (kept in the store).
"""

from __future__ import annotations

import email.utils
import threading
import time
from email.parser import BytesHeaderParser
from email.policy import compat32

from rmail.delivery.replies import (
    FROM_NOT_ALLOWED,
    NO_FROM_HEADER,
    SENDER_NOT_ALLOWED,
    SUBMISSION_DISABLED,
    Reply,
)
from rmail.store.accounts import Account
from rmail.store.layout import Layout
from rmail.store.sendlog import SendLog

__all__ = [
    "DAY",
    "RecipientLimiter",
    "check_from_header",
    "check_sender",
    "from_addresses",
    "header_block",
]

DAY = 24 * 3600


def check_sender(account: Account, mail_from: str) -> Reply | None:
    """The envelope sender check at MAIL FROM; None when allowed. The null sender is refused:
    users do not send bounces."""
    if not account.submission_enabled or not account.enabled:
        return SUBMISSION_DISABLED
    if not mail_from or not account.may_send_as(mail_from):
        return SENDER_NOT_ALLOWED
    return None


def header_block(raw: bytes) -> bytes:
    """The header section of a message (up to the first empty line)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(sep)
        if end >= 0:
            return raw[: end + len(sep)]
    return raw


def from_addresses(raw: bytes) -> list[str]:
    """Every address in every From: field (RFC 5322 allows a list)."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
    values = [str(v) for v in headers.get_all("From", [])]
    return [addr for _, addr in email.utils.getaddresses(values) if addr]


def check_from_header(account: Account, raw: bytes) -> Reply | None:
    """Every From: address must be one the account may send as (its own addresses or its
    sender whitelist); None when allowed."""
    addresses = from_addresses(raw)
    if not addresses:
        return NO_FROM_HEADER
    for addr in addresses:
        if not account.may_send_as(addr):
            return FROM_NOT_ALLOWED.but(f"From: address {addr} is not one of yours")
    return None


class RecipientLimiter:
    """Recipients each user sent in the last 24 hours, against `Account.recipients_per_day`.

    With a `layout`, each user's window lives in the store (`rmail.store.sendlog`) and
    survives a restart; without one (tests of the policy alone) it is kept in memory.
    Thread-safe.
    """

    def __init__(self, window: float = DAY, layout: Layout | None = None) -> None:
        self.window = window
        self.layout = layout
        self._logs: dict[tuple[str, str], SendLog] = {}
        self._lock = threading.Lock()

    def _log(self, account: Account) -> SendLog:
        key = (account.domain, account.username)
        log = self._logs.get(key)
        if log is None:
            if self.layout is None:
                log = SendLog(None, self.window)
            else:
                log = SendLog.of(self.layout, account.domain, account.username, self.window)
            self._logs[key] = log
        return log

    def sent(self, account: Account) -> int:
        with self._lock:
            return self._log(account).expire(time.time())

    def remaining(self, account: Account) -> int:
        return max(0, account.recipients_per_day - self.sent(account))

    def record(self, account: Account, count: int) -> None:
        if count <= 0:
            return
        now = time.time()
        with self._lock:
            log = self._log(account)
            log.expire(now)
            log.add(now, count)
