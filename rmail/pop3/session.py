"""Per-connection state of a POP3 session and its maildrop view.

The maildrop is the INBOX, seen as it was when the session logged in (`Maildrop`): message
numbers, sizes and unique ids are fixed for the session (RFC 1939 §5), and mail that arrives
meanwhile shows in the next session. Changes follow WildDuck's semantics: DELE and RETR only
mark messages in memory; QUIT applies them in one step (the UPDATE state): retrieved messages
become \\Seen, deleted ones become \\Seen and move to Trash. RSET forgets both; a connection
that ends without QUIT changes nothing. TOP marks nothing.

One session at a time holds a maildrop (`UserMailbox.lock_maildrop`, an flock shared by every
worker process); a second login gets `-ERR [IN-USE]` (RFC 2449 §8.1.2).
"""

from __future__ import annotations

import enum
import ssl
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from rmail.pop3.errors import Pop3Error

if TYPE_CHECKING:
    from rmail.auth import Principal
    from rmail.pop3.connection import Connection
    from rmail.services import Services
    from rmail.store.mailbox import Folder, MaildropLock

T = TypeVar("T")


class State(enum.Enum):
    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"
    CLOSED = "CLOSED"  # QUIT was answered, or the connection is being dropped


@dataclass(frozen=True)
class Limits:
    """What one connection may cost (the config's `pop3` section, or a test's own)."""

    timeout: float = 600.0  # RFC 1939 §3: at least 10 minutes without a command
    max_connections_per_ip: int = 50
    max_bad_commands: int = 20  # malformed or refused commands in a row
    max_long_lines: int = 3  # over-long lines in a session before we hang up
    sasl_line: int = 8 * 1024  # one line of an AUTH exchange


@dataclass
class Maildrop:
    """The INBOX as this session sees it. Index i is message number i + 1."""

    folder: Folder
    lock: MaildropLock
    uidvalidity: int
    uids: array[int]
    sizes: array[int]
    deleted: set[int] = field(default_factory=set)  # indexes marked by DELE
    retrieved: set[int] = field(default_factory=set)  # indexes sent whole by RETR
    ahead: dict[int, bytes] = field(default_factory=dict)  # read ahead, not yet asked for

    def index(self, number: int) -> int:
        """The index of a message number that exists and is not marked deleted."""
        i = number - 1
        if not 0 <= i < len(self.uids):
            raise Pop3Error(f"no message {number}")
        if i in self.deleted:
            raise Pop3Error(f"message {number} is deleted")
        return i

    def live(self) -> list[int]:
        return [i for i in range(len(self.uids)) if i not in self.deleted]

    def stat(self) -> tuple[int, int]:
        """(count, octets) of the messages not marked deleted."""
        deleted = sum(self.sizes[i] for i in self.deleted)
        return len(self.uids) - len(self.deleted), sum(self.sizes) - deleted

    def unique_id(self, i: int) -> str:
        """RFC 1939 §7 unique-id: stable across sessions and restarts, never reused in this
        mailbox (UIDs are never reused under one UIDVALIDITY, and a new UIDVALIDITY changes
        every id)."""
        return f"{self.uidvalidity}.{self.uids[i]}"


class Session:
    """One POP3 connection's state; handlers in `commands` act on it."""

    def __init__(self, core: Services, conn: Connection, limits: Limits, *,
                 starttls: bool, ssl_context: ssl.SSLContext) -> None:
        self.core = core
        self.conn = conn
        self.limits = limits
        self.starttls_offered = starttls
        self.ssl_context = ssl_context
        self.peer_ip = conn.peer_ip()
        self.state = State.AUTHORIZATION
        self.user: str | None = None  # USER given, waiting for PASS
        self.principal: Principal | None = None
        self.drop: Maildrop | None = None

    def trusted(self) -> bool:
        return self.peer_ip is not None and self.core.config.security.is_trusted(self.peer_ip)

    def login_allowed(self) -> bool:
        """RFC 2595 §2: no plaintext passwords before TLS, except from trusted networks."""
        return self.conn.tls or self.trusted()

    def maildrop(self) -> Maildrop:
        assert self.drop is not None  # the command table admits only TRANSACTION commands
        return self.drop

    # -- output -------------------------------------------------------------------------------
    def ok(self, text: str = "") -> None:
        self.conn.write(b"+OK " + text.encode() + b"\r\n" if text else b"+OK\r\n")

    # -- store calls --------------------------------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Store calls run on the process's store pool (`Services.run`), never on the loop."""
        return await self.core.run(fn, *args, **kwargs)

    def release(self) -> None:
        """Give up the maildrop without applying anything (connection gone, or after UPDATE)."""
        drop, self.drop = self.drop, None
        if drop is not None:
            drop.lock.release()
