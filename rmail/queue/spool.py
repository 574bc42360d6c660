"""The durable outbound spool: one message file and one state document per queued message.

    queue/messages/{id}.eml   the bytes to send, written once (fsynced) and never changed
    queue/state/{id}.json     envelope + per-recipient-domain state ("legs"), version 1

Enqueueing writes the message, then the state (both with O_EXCL and fdatasync), then fsyncs
both directories; only then does the caller acknowledge. A crash before that leaves at most a
message without state, or a torn state document; neither was acknowledged, and `Spool.load`
discards both. Every later state change replaces the document atomically (temp, fsync,
rename). Synchronous: the queue calls it from worker threads.

Lock rules: ``queue.lock`` (flock sidecar) serialises state *changes* between the server and
the CLI (``rmail queue retry|delete``); creating a new message needs no lock (its id is new).
Readers never lock. No network I/O happens while the lock is held.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from rmail.store import fsutil
from rmail.store.errors import CorruptStore
from rmail.store.layout import Layout

__all__ = [
    "DELIVERED",
    "FAILED",
    "PENDING",
    "Leg",
    "QueuedMessage",
    "RecipientState",
    "Spool",
    "check_queue_id",
    "new_queue_id",
]

STATE_VERSION = 1
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
_ID_RE = re.compile(r"[0-9a-f]{16}[0-9a-f]{6}")


def new_queue_id() -> str:
    """Sortable by arrival (nanoseconds, hex) and unique (random suffix)."""
    return f"{time.time_ns():016x}{secrets.token_hex(3)}"


def check_queue_id(queue_id: str) -> str:
    """The name gate for ids from outside (CLI arguments)."""
    if not isinstance(queue_id, str) or not _ID_RE.fullmatch(queue_id):
        raise ValueError(f"{queue_id!r} is not a queue id")
    return queue_id


@dataclass
class RecipientState:
    address: str
    status: str = PENDING
    reply: str | None = None  # the last reply concerning this recipient


@dataclass
class Leg:
    """The recipients of one domain (remote) or of local mailboxes (``local``: a delivery
    that failed temporarily and is retried from here)."""

    domain: str
    recipients: list[RecipientState]
    local: bool = False
    attempts: int = 0
    next_attempt: float = 0.0
    last_attempt: float | None = None
    last_error: str | None = None
    remote_mta: str | None = None

    @property
    def pending(self) -> list[RecipientState]:
        return [r for r in self.recipients if r.status == PENDING]


@dataclass
class QueuedMessage:
    id: str
    mail_from: str             # "" for bounces: they are never bounced themselves
    created: float
    expires: float
    size: int
    legs: list[Leg] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not any(leg.pending for leg in self.legs)

    @property
    def dsn(self) -> bool:
        """Whether failures are reported to the sender."""
        return bool(self.mail_from)

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["version"] = STATE_VERSION
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> QueuedMessage:
        legs = [Leg(**{**leg, "recipients": [RecipientState(**r) for r in leg["recipients"]]})
                for leg in doc["legs"]]
        return cls(doc["id"], doc["mail_from"], doc["created"], doc["expires"], doc["size"],
                   legs)


class Spool:
    """Files of the outbound queue under ``{mail_root}/queue/``."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._ready = False

    def _ensure(self) -> None:
        if not self._ready:
            fsutil.ensure_dir(self.layout.queue_messages_dir)
            fsutil.ensure_dir(self.layout.queue_state_dir)
            self._ready = True

    # -- writing ----------------------------------------------------------------------------
    def create(self, data: bytes, message: QueuedMessage) -> None:
        """Store a new message durably (returns when both files and their names are on disk)."""
        self._ensure()
        eml = self.layout.queue_message(message.id)
        state = self.layout.queue_state(message.id)
        fsutil.write_new_file(eml, data)
        try:
            fsutil.write_new_file(state, fsutil.dump_json(message.to_doc()))
            fsutil.fsync_dir(eml.parent)
            fsutil.fsync_dir(state.parent)
        except BaseException:
            for path in (state, eml):
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self._ensure()
        with fsutil.locked(self.layout.queue_lock):
            yield

    def save(self, message: QueuedMessage) -> bool:
        """Replace the state document; False (and nothing written) when the message was
        deleted meanwhile (``rmail queue delete``)."""
        path = self.layout.queue_state(message.id)
        with self.locked():
            if not path.exists():
                return False
            fsutil.atomic_write(path, fsutil.dump_json(message.to_doc()))
        return True

    def update(self, queue_id: str, change: Callable[[QueuedMessage], None]
               ) -> QueuedMessage | None:
        """Read, change and write one message under the lock (the CLI's retry)."""
        path = self.layout.queue_state(queue_id)
        with self.locked():
            message = self.load(queue_id)
            if message is None:
                return None
            change(message)
            fsutil.atomic_write(path, fsutil.dump_json(message.to_doc()))
        return message

    def remove(self, queue_id: str) -> bool:
        """Delete a message: state first (so it is gone at once), then its bytes."""
        with self.locked():
            try:
                os.unlink(self.layout.queue_state(queue_id))
            except FileNotFoundError:
                return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.layout.queue_message(queue_id))
        return True

    # -- reading ----------------------------------------------------------------------------
    def ids(self) -> list[str]:
        """Queued message ids, oldest first."""
        try:
            names = os.listdir(self.layout.queue_state_dir)
        except FileNotFoundError:
            return []
        return sorted(n[:-5] for n in names if n.endswith(".json") and _ID_RE.fullmatch(n[:-5]))

    def stat_key(self, queue_id: str) -> tuple[int, int, int] | None:
        """Changes whenever the state document is replaced (rescans compare it)."""
        try:
            st = os.stat(self.layout.queue_state(queue_id))
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def load(self, queue_id: str) -> QueuedMessage | None:
        """The state of a message, or None when it is gone. A torn or orphaned entry (a crash
        during `create`, never acknowledged) is removed."""
        path = self.layout.queue_state(queue_id)
        try:
            doc = fsutil.read_json(path, version=STATE_VERSION)
            message = QueuedMessage.from_doc(doc)
            if not self.layout.queue_message(queue_id).exists():
                raise CorruptStore(f"{queue_id}: message file missing")
            return message
        except FileNotFoundError:
            return None
        except (CorruptStore, KeyError, TypeError, ValueError, json.JSONDecodeError):
            if path.exists() and _is_newer_version(path):
                raise
            self.remove(queue_id)
            return None

    def read_message(self, queue_id: str) -> bytes:
        return self.layout.queue_message(queue_id).read_bytes()

    def orphans(self) -> list[str]:
        """Message files without state (crash during `create`): never acknowledged."""
        try:
            names = os.listdir(self.layout.queue_messages_dir)
        except FileNotFoundError:
            return []
        have = set(self.ids())
        return [n[:-4] for n in names if n.endswith(".eml") and n[:-4] not in have]

    def remove_orphans(self, older_than: float = 3600.0) -> int:
        """Delete orphaned message files older than ``older_than`` seconds (a younger one may
        belong to an enqueue in progress)."""
        removed = 0
        now = time.time()
        for queue_id in self.orphans():
            path = self.layout.queue_message(queue_id)
            with contextlib.suppress(FileNotFoundError):
                if now - path.stat().st_mtime > older_than:
                    path.unlink()
                    removed += 1
        return removed


def _is_newer_version(path: os.PathLike[str]) -> bool:
    """A state document from a newer rmail must fail loudly, never be discarded."""
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return False
    version = doc.get("version") if isinstance(doc, dict) else None
    return isinstance(version, int) and version > STATE_VERSION
