"""The outbound queue: accepts messages durably, delivers them with retries, bounces failures.

Each queued message is split into legs, one per recipient domain; a leg is attempted as a
whole (one SMTP connection for all its recipients) and keeps its own attempt count and next
attempt time. Backoff doubles from ``queue.retry_min`` up to ``queue.retry_max``; a recipient
still pending when ``queue.lifetime`` has passed since arrival fails with 4.4.7. Permanent
failures and expiries are reported to the sender in one DSN per attempt (`rmail.queue.dsn`),
never for a message whose sender is null.

Lock rules: in-memory state is touched only on the event loop. A leg is attempted by at most
one task at a time (``_inflight``); the state document is written after the attempt, through
`Spool.save` (under ``queue.lock``, never across network I/O). The CLI changes documents under
the same lock, and the worker rereads a document whose file changed at its next scan.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from rmail.config import Config
from rmail.delivery.replies import LOCAL_ERROR, Reply
from rmail.delivery.trace import envelope_sender
from rmail.queue.dkim import DkimSigner
from rmail.queue.dsn import DsnRecipient, build_dsn
from rmail.queue.spool import (
    DELIVERED,
    FAILED,
    Leg,
    QueuedMessage,
    RecipientState,
    Spool,
    new_queue_id,
)
from rmail.queue.transport import Transport
from rmail.store.accounts import Accounts, split_address
from rmail.store.errors import InvalidValue, UnsafeName
from rmail.store.layout import Layout

if TYPE_CHECKING:
    from rmail.delivery import Delivery

__all__ = ["RESCAN_SECONDS", "OutboundQueue"]

log = logging.getLogger(__name__)

RESCAN_SECONDS = 5.0   # how soon changes made by the CLI are seen
STOP_GRACE = 10.0      # seconds running attempts get to finish on stop
T = TypeVar("T")


def _crlf(raw: bytes) -> bytes:
    """SMTP lines end in CRLF (RFC 5321 §2.3.8); a message from the API may use bare LF."""
    if b"\n" not in raw.replace(b"\r\n", b""):
        return raw
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _domain_of(address: str) -> str:
    try:
        return split_address(address)[1]
    except (InvalidValue, UnsafeName):
        return address.rpartition("@")[2].lower()


class OutboundQueue:
    """``services.queue``: `enqueue`, `bounce`, `retry`, `start`/`stop` of the worker."""

    def __init__(self, config: Config, accounts: Accounts, *,
                 transport: Transport | None = None) -> None:
        self.config = config
        self.settings = config.queue
        self.accounts = accounts
        self.spool = Spool(Layout(config.mail_root))
        self.signer = DkimSigner(config.mail_root, accounts)
        self.transport = transport or Transport(config)
        self.delivery: Delivery | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._messages: dict[str, QueuedMessage] = {}
        self._keys: dict[str, tuple[int, int, int] | None] = {}
        self._inflight: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._users = 0
        self._last_scan = 0.0
        # Set in a worker of a multi-process server (`rmail.bus`), whose queue runner lives in
        # the supervisor: called after a message is spooled, so the runner looks at once.
        self.on_spooled: Callable[[], None] | None = None

    def attach(self, delivery: Delivery) -> None:
        """The local pipeline, for bounces to local senders and local retries."""
        self.delivery = delivery

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.settings.concurrency + 2,
                                            thread_name_prefix="rmail-queue")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- accepting -----------------------------------------------------------------------------
    def _create(self, raw: bytes, message: QueuedMessage, local: bool, dkim: bool
                ) -> tuple[int, int, int] | None:
        data = raw if local else _crlf(raw)
        if dkim:
            data = self.signer.sign(data)
        message.size = len(data)
        self.spool.create(data, message)
        return self.spool.stat_key(message.id)

    async def enqueue(self, raw: bytes, *, mail_from: str, recipients: Iterable[str],
                      local: bool = False, dkim: bool = False) -> str:
        """Queue a message; returns its id once it is durable on disk.

        ``local``: the recipients are local mailboxes whose delivery failed temporarily.
        ``dkim``: sign with the key of the From: domain (mail submitted by our users).
        """
        rcpts = list(dict.fromkeys(recipients))
        if not rcpts:
            raise ValueError("a queued message needs at least one recipient")
        now = time.time()
        legs: dict[str, Leg] = {}
        for rcpt in rcpts:
            domain = _domain_of(rcpt)
            legs.setdefault(domain, Leg(domain, [], local=local))
            legs[domain].recipients.append(RecipientState(rcpt))
        message = QueuedMessage(new_queue_id(), envelope_sender(mail_from), now,
                                now + self.settings.lifetime, len(raw), list(legs.values()))
        key = await self._call(self._create, raw, message, local, dkim)
        if self.on_spooled is not None:  # another process runs the queue: tell it
            self.on_spooled()
        else:
            self._keys[message.id] = key
            self._messages[message.id] = message
            self._notify()
        log.info("%s: queued from <%s> for %s", message.id, message.mail_from, ", ".join(rcpts))
        return message.id

    async def bounce(self, original: bytes, *, mail_from: str,
                     failures: Sequence[tuple[str, Reply] | DsnRecipient],
                     queue_id: str | None = None, arrival: float | None = None) -> None:
        """Send a DSN about ``failures`` to ``mail_from``; nothing for the null sender."""
        sender = envelope_sender(mail_from)
        recipients = [f if isinstance(f, DsnRecipient) else DsnRecipient(f[0], f[1])
                      for f in failures]
        if not recipients:
            return
        if not sender:
            log.info("not bouncing a message with a null sender: %s",
                     ", ".join(f"{r.address} ({r.reply})" for r in recipients))
            return
        dsn = build_dsn(hostname=self.config.hostname, sender=sender, original=original,
                        recipients=recipients, queue_id=queue_id, arrival=arrival)
        delivery = self.delivery
        if delivery is not None and self.accounts.is_local_domain(_domain_of(sender)):
            report = await delivery.deliver_local(dsn, mail_from="", recipients=[sender],
                                                  single_reply=False)
            outcome = report.outcomes[0]
            if outcome.ok or outcome.reply.permanent:
                if not outcome.ok:
                    log.warning("bounce to <%s> undeliverable: %s", sender, outcome.reply)
                return
            await self.enqueue(dsn, mail_from="", recipients=[sender], local=True)
            return
        await self.enqueue(dsn, mail_from="", recipients=[sender])

    # -- management ------------------------------------------------------------------------------
    def messages(self) -> list[QueuedMessage]:
        """What this process holds in memory (the CLI reads the spool instead)."""
        return sorted(self._messages.values(), key=lambda m: m.id)

    def retry(self, ids: Iterable[str] | None = None) -> int:
        """Attempt pending legs now (all messages, or the given ids); returns how many."""
        wanted = None if ids is None else set(ids)
        count = 0
        for message in self._messages.values():
            if wanted is not None and message.id not in wanted:
                continue
            for leg in message.legs:
                if leg.pending:
                    leg.next_attempt = 0.0
                    count += 1
        self._notify()
        return count

    def poke(self) -> None:
        """Another process spooled a message: rescan the spool now rather than at the next
        periodic scan."""
        self._last_scan = 0.0
        self._notify()

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt number ``attempts + 1``."""
        delay = self.settings.retry_min * 2 ** max(0, min(attempts - 1, 32))
        return float(min(delay, self.settings.retry_max))

    # -- the worker ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the worker (idempotent; each start needs a matching stop)."""
        self._users += 1
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="rmail-queue")

    async def stop(self) -> None:
        """Stop the worker after the last user; running attempts get a grace period."""
        self._users = max(0, self._users - 1)
        if self._users or self._task is None:
            return
        task, self._task = self._task, None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        running = list(self._inflight.values())
        if running:
            _, pending = await asyncio.wait(running, timeout=STOP_GRACE)
            for t in pending:
                t.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        self._inflight.clear()
        self._wake = None
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    @property
    def running(self) -> bool:
        return self._task is not None

    async def _run(self) -> None:
        removed = await self._call(self.spool.remove_orphans)
        if removed:
            log.info("removed %d unacknowledged message file(s) from the queue", removed)
        while True:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("queue worker error")
                await asyncio.sleep(1.0)

    async def _tick(self) -> None:
        now = time.time()
        if now - self._last_scan >= RESCAN_SECONDS:
            await self._rescan()
            self._last_scan = now = time.time()
        next_due = now + RESCAN_SECONDS
        for message in list(self._messages.values()):
            for index, leg in enumerate(message.legs):
                key = (message.id, index)
                if key in self._inflight or not leg.pending:
                    continue
                if leg.next_attempt > now:
                    next_due = min(next_due, leg.next_attempt)
                elif len(self._inflight) < self.settings.concurrency:
                    task = asyncio.create_task(self._attempt(message, index))
                    self._inflight[key] = task
                    task.add_done_callback(functools.partial(self._attempt_done, key))
        assert self._wake is not None
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), max(0.01, next_due - time.time()))
        except TimeoutError:
            pass

    def _attempt_done(self, key: tuple[str, int], task: asyncio.Task[None]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: delivery attempt failed", key[0], exc_info=task.exception())
        self._notify()

    def _scan_disk(self) -> dict[str, tuple[int, int, int] | None]:
        return {qid: self.spool.stat_key(qid) for qid in self.spool.ids()}

    async def _rescan(self) -> None:
        """Pick up messages queued by other processes and changes made by the CLI."""
        on_disk = await self._call(self._scan_disk)
        busy = {qid for qid, _ in self._inflight}
        for qid in list(self._messages):
            if qid not in on_disk and qid not in busy:
                self._forget(qid)
        for qid, key in on_disk.items():
            if qid in busy or (qid in self._messages and self._keys.get(qid) == key):
                continue
            message = await self._call(self.spool.load, qid)
            if message is None:
                self._forget(qid)
            elif message.done:  # finished, but a crash came before its removal
                await self._call(self.spool.remove, qid)
                self._forget(qid)
            else:
                self._messages[qid] = message
                self._keys[qid] = key

    def _forget(self, qid: str) -> None:
        self._messages.pop(qid, None)
        self._keys.pop(qid, None)

    async def _attempt(self, message: QueuedMessage, index: int) -> None:
        leg = message.legs[index]
        rcpts = [r.address for r in leg.pending]
        try:
            data = await self._call(self.spool.read_message, message.id)
        except FileNotFoundError:
            self._forget(message.id)
            return
        mta: str | None = None
        try:
            if leg.local:
                replies = await self._deliver_local(data, message.mail_from, rcpts)
            else:
                hops = await self.transport.hops(leg.domain)
                if isinstance(hops, Reply):
                    replies = {r: hops for r in rcpts}
                else:
                    replies, mta = await self._call(self.transport.send, hops,
                                                    message.mail_from, rcpts, data)
        except Exception as exc:  # a bug must cost a retry, never a tight loop or the message
            log.exception("%s: delivery attempt to %s crashed", message.id, leg.domain)
            replies = {r: LOCAL_ERROR.but(f"Local error ({type(exc).__name__}), will retry")
                       for r in rcpts}
        await self._record(message, leg, replies, mta, data)

    async def _deliver_local(self, data: bytes, mail_from: str, rcpts: list[str]
                             ) -> dict[str, Reply]:
        if self.delivery is None:
            return {r: LOCAL_ERROR for r in rcpts}
        report = await self.delivery.deliver_local(data, mail_from=mail_from, recipients=rcpts,
                                                   single_reply=False)
        return {o.recipient: o.reply for o in report.outcomes}

    async def _record(self, message: QueuedMessage, leg: Leg, replies: dict[str, Reply],
                      mta: str | None, data: bytes) -> None:
        now = time.time()
        failures: list[DsnRecipient] = []
        errors: list[str] = []
        for rcpt in leg.pending:
            reply = replies.get(rcpt.address, LOCAL_ERROR)
            rcpt.reply = str(reply)
            if reply.ok:
                rcpt.status = DELIVERED
            elif reply.permanent:
                rcpt.status = FAILED
                failures.append(DsnRecipient(rcpt.address, reply, mta))
            else:
                errors.append(str(reply))
        leg.attempts += 1
        leg.last_attempt = now
        leg.remote_mta = mta
        leg.last_error = errors[0] if errors else None
        if leg.pending:
            if now >= message.expires:
                for rcpt in leg.pending:
                    expired = Reply(451, "4.4.7", f"Delivery time expired; last error: "
                                                  f"{rcpt.reply}")
                    rcpt.status, rcpt.reply = FAILED, str(expired)
                    failures.append(DsnRecipient(rcpt.address, expired, mta))
            else:
                leg.next_attempt = min(now + self.backoff(leg.attempts), message.expires)
        outcome = ", ".join(f"{a}: {r}" for a, r in replies.items())
        log.info("%s: attempt %d to %s: %s", message.id, leg.attempts, mta or leg.domain,
                 outcome)
        if failures:
            # The DSN is out before the state says "failed": a crash in between repeats the
            # bounce rather than losing it.
            await self.bounce(data, mail_from=message.mail_from, failures=failures,
                              queue_id=message.id, arrival=message.created)
        if message.done:
            await self._call(self.spool.remove, message.id)
            self._forget(message.id)
            return
        saved, key = await self._call(self._save, message)
        if saved:
            self._keys[message.id] = key
        else:
            self._forget(message.id)  # deleted by `rmail queue delete` during the attempt

    def _save(self, message: QueuedMessage) -> tuple[bool, tuple[int, int, int] | None]:
        if not self.spool.save(message):
            return False, None
        return True, self.spool.stat_key(message.id)
