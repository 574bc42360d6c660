"""SMTP replies as values: what delivery decided, in the form every front end can show.

A `Reply` is an SMTP reply code, an RFC 3463 enhanced status code and a text. The delivery
pipeline and the queue speak in replies (SMTP and LMTP send them as they are; the JSON API maps
the code class to an HTTP status), and the named constants below are the one place their
wording lives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

__all__ = [
    "ALIAS_LOOP",
    "BAD_ADDRESS",
    "BAD_SENDER",
    "DELIVERED",
    "FROM_NOT_ALLOWED",
    "LOCAL_ERROR",
    "MAILBOX_DISABLED",
    "MAILBOX_FULL",
    "MESSAGE_OVER_QUOTA",
    "NOT_LOCAL",
    "NO_FROM_HEADER",
    "NO_SUCH_USER",
    "QUEUED",
    "RATE_LIMITED",
    "RECIPIENT_OK",
    "SENDER_NOT_ALLOWED",
    "SENDER_OK",
    "SUBMISSION_DISABLED",
    "TOO_MANY_RECIPIENTS",
    "Reply",
    "parse_reply",
]

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)")


@dataclass(frozen=True, slots=True)
class Reply:
    """``code status text``, e.g. ``550 5.1.1 No such user here``."""

    code: int
    status: str
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.status} {self.text}"

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 400

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    def but(self, text: str) -> Reply:
        """The same codes with another text."""
        return replace(self, text=text)


def parse_reply(code: int, text: str | bytes) -> Reply:
    """A remote server's reply; the enhanced code is taken from the text or derived from the
    code class (RFC 3463 §3: x.0.0 when nothing more is known)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = " ".join(text.split())  # multi-line replies arrive joined by newlines
    match = _ENHANCED.match(text)
    if match and match.group(1) == str(code)[0]:
        return Reply(code, ".".join(match.groups()), text[match.end():] or "-")
    klass = str(code)[0] if str(code)[0] in "245" else "4"
    return Reply(code, f"{klass}.0.0", text or "-")


# -- success ------------------------------------------------------------------------------------
SENDER_OK = Reply(250, "2.1.0", "Sender OK")
RECIPIENT_OK = Reply(250, "2.1.5", "Recipient OK")
DELIVERED = Reply(250, "2.0.0", "Delivered")
QUEUED = Reply(250, "2.0.0", "Queued")

# -- recipients ---------------------------------------------------------------------------------
BAD_ADDRESS = Reply(553, "5.1.3", "Bad address syntax")
BAD_SENDER = Reply(553, "5.1.7", "Bad sender address syntax")
NO_SUCH_USER = Reply(550, "5.1.1", "No such user here")
MAILBOX_DISABLED = Reply(550, "5.2.1", "Mailbox disabled")
NOT_LOCAL = Reply(554, "5.7.1", "Relay access denied")
ALIAS_LOOP = Reply(554, "5.4.6", "Alias loop or alias chain too deep")
# RFC 3463 §3.3: x.2.2 mailbox full. Temporary while the user may still make room; permanent
# when the message alone is larger than the whole quota and can never fit.
MAILBOX_FULL = Reply(452, "4.2.2", "Mailbox full")
MESSAGE_OVER_QUOTA = Reply(552, "5.2.2", "Message is larger than the mailbox quota")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")

# -- senders (submission) -------------------------------------------------------------------------
SUBMISSION_DISABLED = Reply(550, "5.7.1", "Sending is disabled for this account")
SENDER_NOT_ALLOWED = Reply(553, "5.7.1", "Sender address is not one of yours")
FROM_NOT_ALLOWED = Reply(550, "5.7.1", "From: header address is not one of yours")
NO_FROM_HEADER = Reply(550, "5.6.0", "Message has no From: header")
RATE_LIMITED = Reply(450, "4.7.1", "Daily recipient limit reached, try again later")

# -- the server ---------------------------------------------------------------------------------
LOCAL_ERROR = Reply(451, "4.3.0", "Local error in processing, try again later")
