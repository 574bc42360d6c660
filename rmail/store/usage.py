"""A user's storage use: mail and drive count against one quota (`Account.quota_mb`).

Mail usage is kept current in memory by the mail store (O(folders)); drive usage is the root
`_index.json` total (O(1)). Nothing is cached here, so no write anywhere can leave a stale
figure behind: every quota check sees the latest committed state of both stores.
"""

from __future__ import annotations

from dataclasses import dataclass

from rmail.store.drive import DriveStore, Quota
from rmail.store.errors import NotFound
from rmail.store.mailbox import MailStore

__all__ = ["Usage", "drive_quota", "user_usage"]


@dataclass(frozen=True)
class Usage:
    mail_bytes: int
    drive_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.mail_bytes + self.drive_bytes


def user_usage(mail: MailStore, drives: DriveStore, domain: str, username: str) -> Usage:
    """Bytes used by the user's mail and drive (a missing store counts as empty)."""
    try:
        mail_bytes = mail.mailbox(domain, username).usage_bytes()
    except NotFound:
        mail_bytes = 0
    try:
        drive_bytes = drives.drive(domain, username).usage_bytes()
    except NotFound:
        drive_bytes = 0
    return Usage(mail_bytes, drive_bytes)


def drive_quota(mail: MailStore, domain: str, username: str, quota_bytes: int) -> Quota:
    """The limit a drive write is checked against: the account's quota less its mail."""
    try:
        mail_bytes = mail.mailbox(domain, username).usage_bytes()
    except NotFound:
        mail_bytes = 0
    return Quota(quota_bytes, mail_bytes)
