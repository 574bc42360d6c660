"""Named IMAP failures, mapped to wire replies in one place (`server.py`, STYLE.md #3).

Handlers raise `ImapNo` for an operation that was understood but failed, `ImapBad` for a
request that makes no sense in context, `ImapBye` to end the connection; the connection loop
turns them into `tag NO [CODE] text`, `tag BAD text` and `* BYE text`.
"""

from __future__ import annotations


class ImapError(Exception):
    """Base of the named failures; `code` is an RFC 5530 response code or None."""

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


class ImapNo(ImapError):
    """`tag NO [code] text`."""


class ImapBad(ImapError):
    """`tag BAD [code] text`."""


class ImapBye(ImapError):
    """`* BYE text`, then the connection closes."""
