"""What every handler shares: the `Done` result and the `Command` table entry type."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rmail.imap.session import Session, State


@dataclass(frozen=True, slots=True)
class Done:
    """A successful completion: `tag OK [code] text`; `after` runs once that line is on the
    wire (STARTTLS and COMPRESS switch the stream only then)."""

    text: str = "completed"
    code: str | None = None
    after: Callable[[], Awaitable[None]] | None = None


class Updates(enum.Enum):
    """Which untagged updates may follow a command (RFC 3501 §7.4.1)."""

    NONE = "none"  # the handler reports the state itself (SELECT, CLOSE, LOGOUT, IDLE)
    NO_EXPUNGE = "no expunge"  # FETCH, STORE, SEARCH by sequence number
    ALL = "all"


Handler = Callable[[Session, Any], Awaitable[Done | None]]


@dataclass(frozen=True, slots=True)
class Command:
    handler: Handler
    states: frozenset[State]
    updates: Updates = Updates.ALL
