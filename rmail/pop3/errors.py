"""The one failure a POP3 handler raises; the connection loop turns it into `-ERR`."""

from __future__ import annotations


class Pop3Error(Exception):
    """`-ERR [code] text`. `code` is an RFC 2449/3206 response code: AUTH, IN-USE, SYS/TEMP,
    SYS/PERM. `fatal` closes the connection after the reply."""

    def __init__(self, text: str, code: str | None = None, *, fatal: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.fatal = fatal

    def line(self) -> bytes:
        code = f"[{self.code}] " if self.code else ""
        return f"-ERR {code}{self.text}\r\n".encode()
