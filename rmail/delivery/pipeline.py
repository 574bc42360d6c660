"""The one local delivery pipeline (MX, submission, LMTP, the JSON API and webmail use it).

    recipients --resolve--> mailboxes (deduplicated) --filters, quota, headers--> folder append
                        \\-> external forwards ---------------------------> outbound queue
                                      filter/user forwards (SRS) --> outbound queue

Each mailbox's rules (`rmail.delivery.rules`: filters in order, the user's forwarding and its
24-hour limit) decide the folder, the flags, whether a copy is kept and where it is
forwarded; a recipient that is an SRS address of ours (a bounce to forwarded mail) goes back
to the original sender.

Store work (resolution, quota, appends) runs on a dedicated thread pool: concurrent deliveries
to one folder then meet in the store's group commit and share one journal fsync, and the event
loop never waits on a disk. A coroutine returns only after every append it reports as
delivered is durable, so the 250 a front end sends afterwards is a promise kept.

Responsibility: once any recipient of a message with a single reply (SMTP DATA, the API) is
accepted, rmail owns the message for all of its recipients. A recipient that failed
temporarily (a full mailbox) is handed to the outbound queue's local retry; one that failed
permanently gets a delivery status notification (RFC 3464) sent to the envelope sender. LMTP
replies per recipient (RFC 2033 §4.2) and owns only what it answered 250 for.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from rmail.delivery import trace
from rmail.delivery.batcher import Batcher
from rmail.delivery.outcome import DeliveryReport, Outcome, SubmissionRefused
from rmail.delivery.policy import (
    RecipientLimiter,
    check_from_header,
    check_sender,
    header_block,
)
from rmail.delivery.replies import (
    ALIAS_LOOP,
    BAD_ADDRESS,
    DELIVERED,
    LOCAL_ERROR,
    MAILBOX_DISABLED,
    MAILBOX_FULL,
    MESSAGE_OVER_QUOTA,
    NO_SUCH_USER,
    NOT_LOCAL,
    QUEUED,
    RATE_LIMITED,
    RECIPIENT_OK,
    Reply,
)
from rmail.delivery.rules import KEEP, Decision, ForwardLimiter, Rules
from rmail.delivery.srs import Srs, SrsError, is_srs
from rmail.ical.itip import has_calendar_part
from rmail.mail.filters import MessageFacts
from rmail.scheduling.imip import import_itip
from rmail.store.accounts import Account, Accounts, split_address
from rmail.store.calendars import CalendarStore
from rmail.store.errors import Conflict, InvalidValue, NotFound, QuotaExceeded, UnsafeName
from rmail.store.mailbox import MailStore
from rmail.store.mailrules import MailRules, UserRules

if TYPE_CHECKING:
    from rmail.auth import Principal
    from rmail.config import Config
    from rmail.queue import OutboundQueue

__all__ = ["DELIVERY_THREADS", "MAX_HOPS", "RCPT_CACHE_SECONDS", "Delivery"]

log = logging.getLogger(__name__)

DELIVERY_THREADS = 32
RCPT_CACHE_SECONDS = 1.0
RCPT_CACHE_SIZE = 10_000
MAX_HOPS = 50  # RFC 5321 §6.3: a message with this many Received fields is looping
INBOX = "INBOX"

T = TypeVar("T")
Mailbox = tuple[str, str]  # (domain, username)

_RECEIVED = re.compile(rb"^received:", re.IGNORECASE | re.MULTILINE)
_DELIVERED_TO = re.compile(rb"^delivered-to:[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)


@dataclass
class _Plan:
    """Where each recipient goes: mailboxes and forwards, or why nowhere."""

    refused: dict[str, Reply] = field(default_factory=dict)
    mailboxes: dict[str, list[Mailbox]] = field(default_factory=dict)
    forwards: dict[str, list[str]] = field(default_factory=dict)
    accounts: dict[Mailbox, Account | Reply] = field(default_factory=dict)


@dataclass(slots=True)
class _Forward:
    """A copy the rules forward: from ``account``, to ``targets``."""

    account: Account
    data: bytes
    targets: list[str]


_Stored = tuple[_Plan, dict[Mailbox, Reply], list[_Forward]]
_Item = tuple[bytes, str, tuple[str, ...]]  # message, folder name, flags


@dataclass(slots=True)
class _Job:
    """One message on its way into local mailboxes."""

    recipients: list[str]
    base: bytes  # Received: + the message as received
    mail_from: str
    seen_delivered_to: set[str]  # Delivered-To: addresses already in the message


@dataclass
class _Result:
    """Outcomes plus the failures rmail took over (per recipient: target address, reply)."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    failed_targets: dict[str, list[tuple[str, Reply]]] = field(default_factory=dict)


class Delivery:
    """Local delivery and submission for one process (``services.delivery``).

    Public coroutines: `check_recipient`, `check_submission_recipient`, `check_account`,
    `deliver_local`, `submit`. See `rmail.delivery` for the overview.
    """

    imports_itip = True  # every stored message with a text/calendar part goes to import_itip

    def __init__(self, config: Config, accounts: Accounts, mail: MailStore,
                 queue: OutboundQueue, *, threads: int = DELIVERY_THREADS,
                 calendars: CalendarStore) -> None:
        self.config = config
        self.accounts = accounts
        self.mail = mail
        self.queue = queue
        # iMIP parts of delivered mail are imported here (`Services` hands in its store).
        self.calendars = calendars
        self.hostname = config.hostname
        self.limiter = RecipientLimiter(layout=accounts.layout)  # survives restarts
        self._rcpt_cache: dict[tuple[str, int | None],
                               tuple[Reply, tuple[int, int] | None, float]] = {}
        self._account_cache: dict[Mailbox, tuple[tuple[int, int] | None, Account]] = {}
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._batchers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, Batcher[_Job, _Stored]
        ] = weakref.WeakKeyDictionary()
        # Filters and forwarding, read from disk per user (any worker may have written them).
        self.rules = Rules(MailRules(config.mail_root), mail, ForwardLimiter(mail),
                           forwards_per_day=config.forwards_per_day)
        self._srs: Srs | None = None

    @property
    def srs(self) -> Srs:
        """The SRS signer of forwarded mail (its key made once under `secrets/`)."""
        if self._srs is None:
            self._srs = Srs.stored(self.config.mail_root)
        return self._srs

    # -- threads ----------------------------------------------------------------------------
    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="rmail-delivery")
        return self._pool

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), functools.partial(fn, *args))

    def _batcher(self) -> Batcher[_Job, _Stored]:
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = Batcher(loop, self._executor, self._plan_and_store)
            self._batchers[loop] = batcher
        return batcher

    def close(self) -> None:
        """Let the worker threads go (running appends finish first)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- recipients ---------------------------------------------------------------------------
    def _classify(self, address: str) -> Reply | None:
        """BAD_ADDRESS, NOT_LOCAL, or None for an address of a local domain."""
        try:
            _, domain = split_address(address)
        except (InvalidValue, UnsafeName):
            return BAD_ADDRESS
        return None if self.accounts.is_local_domain(domain) else NOT_LOCAL

    def _plan(self, recipients: Sequence[str]) -> _Plan:
        plan = _Plan()
        for rcpt in recipients:
            if rcpt in plan.refused or rcpt in plan.mailboxes:
                continue  # the same RCPT twice delivers once
            refusal = self._classify(rcpt)
            if refusal is not None:
                plan.refused[rcpt] = refusal
                continue
            target = rcpt
            local_part = rcpt.rpartition("@")[0]
            if is_srs(local_part):  # a bounce to mail we forwarded: back to its sender
                try:
                    target = self.srs.reverse(local_part)
                except SrsError as exc:
                    plan.refused[rcpt] = NO_SUCH_USER.but(f"Invalid SRS address: {exc}")
                    continue
                if self._classify(target) is NOT_LOCAL:
                    plan.mailboxes[rcpt] = []
                    plan.forwards[rcpt] = [target]
                    continue
            try:
                res = self.accounts.resolve(target)
            except NotFound:
                plan.refused[rcpt] = NO_SUCH_USER
                continue
            except Conflict:
                plan.refused[rcpt] = ALIAS_LOOP
                continue
            except (InvalidValue, UnsafeName):
                plan.refused[rcpt] = BAD_ADDRESS
                continue
            plan.mailboxes[rcpt] = list(res.users)
            plan.forwards[rcpt] = list(res.external)
            for mbox in res.users:
                if mbox not in plan.accounts:
                    try:
                        plan.accounts[mbox] = self._account(mbox)
                    except NotFound:
                        plan.accounts[mbox] = NO_SUCH_USER
        return plan

    def _account(self, mbox: Mailbox) -> Account:
        """`Accounts.get`, remembered until any account changes (every account write bumps
        the generation file), so a delivery does not reread account.json."""
        generation = self.accounts.generation()
        hit = self._account_cache.get(mbox)
        if hit is not None and generation is not None and hit[0] == generation:
            return hit[1]
        account = self.accounts.get(*mbox)
        if len(self._account_cache) >= RCPT_CACHE_SIZE:
            self._account_cache.clear()
        self._account_cache[mbox] = (generation, account)
        return account

    def _mailbox_reply(self, account: Account, size: int | None) -> Reply:
        if not account.enabled:
            return MAILBOX_DISABLED
        quota = account.quota_bytes
        if size is not None and size > quota:
            return MESSAGE_OVER_QUOTA
        used = self.mail.mailbox(account.domain, account.username).usage_bytes()
        if used >= quota or (size is not None and used + size > quota):
            return MAILBOX_FULL
        return RECIPIENT_OK

    def _check_recipient(self, address: str, size: int | None) -> Reply:
        with self.accounts.pinned():
            plan = self._plan([address])
        if address in plan.refused:
            return plan.refused[address]
        if plan.forwards.get(address):
            return RECIPIENT_OK  # forwarded elsewhere: the queue owns it
        replies = []
        for mbox in plan.mailboxes.get(address, []):
            acc = plan.accounts[mbox]
            reply = acc if isinstance(acc, Reply) else self._mailbox_reply(acc, size)
            if reply.ok:
                return RECIPIENT_OK  # one good mailbox is enough to accept the recipient
            replies.append(reply)
        return _first_failure(replies) if replies else NO_SUCH_USER

    async def check_recipient(self, address: str, *, size: int | None = None) -> Reply:
        """RCPT-time check of a recipient for local delivery: `RECIPIENT_OK`, or
        `BAD_ADDRESS` (553 5.1.3), `NOT_LOCAL` (554 5.7.1, the domain is not ours),
        `NO_SUCH_USER` (550 5.1.1), `ALIAS_LOOP`, `MAILBOX_DISABLED`, `MAILBOX_FULL`
        (452 4.2.2) or `MESSAGE_OVER_QUOTA` (552 5.2.2, for a declared ``size``).

        Answers are remembered for `RCPT_CACHE_SECONDS` and forgotten at once when any
        account or alias changes: a busy MX then checks a recipient without a thread trip.
        The check is advisory; delivery enforces quota and existence again.
        """
        key = (address, size)
        generation = self.accounts.generation()
        now = time.monotonic()
        hit = self._rcpt_cache.get(key)
        if hit is not None and hit[1] == generation and now - hit[2] < RCPT_CACHE_SECONDS:
            return hit[0]
        reply = await self._call(self._check_recipient, address, size)
        if len(self._rcpt_cache) >= RCPT_CACHE_SIZE:
            self._rcpt_cache.clear()
        self._rcpt_cache[key] = (reply, generation, now)
        return reply

    async def check_account(self, principal: Principal) -> Account:
        """The principal's account as it is now (settings may have changed since login)."""
        return await self._call(self.accounts.get, principal.domain, principal.username)

    def check_sender(self, account: Account, mail_from: str) -> Reply | None:
        """MAIL FROM of a submission: None when allowed, else `SUBMISSION_DISABLED` or
        `SENDER_NOT_ALLOWED`."""
        return check_sender(account, trace.envelope_sender(mail_from))

    async def check_submission_recipient(self, account: Account, address: str, *,
                                         accepted: int = 0, size: int | None = None) -> Reply:
        """RCPT of a submission: the daily limit (counting ``accepted`` recipients already
        taken for this message), then local recipients as `check_recipient`; any syntactically
        valid remote address is fine."""
        if self.limiter.remaining(account) <= accepted:
            return RATE_LIMITED
        refusal = self._classify(address)
        if refusal is NOT_LOCAL:
            return RECIPIENT_OK
        if refusal is not None:
            return refusal
        return await self.check_recipient(address, size=size)

    # -- storing ------------------------------------------------------------------------------
    def _prepare(self, acc: Account | Reply, job: _Job) -> bytes | Reply:
        """The bytes to store for one mailbox (trace fields in front), or why not."""
        if isinstance(acc, Reply):
            return acc
        if not acc.enabled:
            return MAILBOX_DISABLED
        if acc.address.lower() in job.seen_delivered_to:
            return ALIAS_LOOP.but(f"Mail loop: already delivered to {acc.address}")
        return trace.return_path(job.mail_from) + trace.delivered_to(acc.address) + job.base

    def _append_many(self, account: Account, messages: list[_Item]) -> list[Reply]:
        """Append messages to one user's folders, one group commit per folder; one reply
        each. Quota is decided per message in order (a message that does not fit is
        refused, later smaller ones may still fit) and enforced again by the store."""
        quota = account.quota_bytes
        try:
            mailbox = self.mail.mailbox(account.domain, account.username)
            used = mailbox.usage_bytes()
        except NotFound:
            return [NO_SUCH_USER] * len(messages)
        except Exception:
            log.exception("delivery to %s failed", account.address)
            return [LOCAL_ERROR] * len(messages)
        replies: list[Reply] = []
        by_folder: dict[str, list[int]] = {}
        for i, (data, folder, _) in enumerate(messages):
            if used + len(data) > quota:
                replies.append(MESSAGE_OVER_QUOTA if len(data) > quota else MAILBOX_FULL)
            else:
                used += len(data)
                by_folder.setdefault(folder, []).append(i)
                replies.append(DELIVERED)
        for name, positions in by_folder.items():
            try:
                try:
                    target = mailbox.folder(name)
                except NotFound:  # the filter's folder went away meanwhile
                    target = mailbox.folder(INBOX)
                target.append_many([(messages[i][0], messages[i][2], None) for i in positions],
                                   quota_bytes=quota)
            except QuotaExceeded:  # another writer took the room meanwhile: one at a time
                for i in positions:
                    replies[i] = self._append(account, messages[i])
                continue
            except NotFound:
                for i in positions:
                    replies[i] = NO_SUCH_USER
                continue
            except Exception:
                log.exception("delivery to %s failed", account.address)
                for i in positions:
                    replies[i] = LOCAL_ERROR
                continue
            for i in positions:
                if has_calendar_part(messages[i][0]):  # RFC 6047: invitations also land
                    import_itip(self, account.address, messages[i][0])  # never raises
        return replies

    def _append(self, account: Account, item: _Item) -> Reply:
        data, name, flags = item
        try:
            mailbox = self.mail.mailbox(account.domain, account.username)
            try:
                folder = mailbox.folder(name)
            except NotFound:
                folder = mailbox.folder(INBOX)
            folder.append(data, flags, quota_bytes=account.quota_bytes)
        except QuotaExceeded:
            return MESSAGE_OVER_QUOTA if len(data) > account.quota_bytes else MAILBOX_FULL
        except NotFound:
            return NO_SUCH_USER
        except Exception:
            log.exception("delivery to %s failed", account.address)
            return LOCAL_ERROR
        if has_calendar_part(data):
            import_itip(self, account.address, data)  # never raises
        return DELIVERED

    def _decide(self, account: Account, job: _Job, facts: list[MessageFacts | None],
                batch_rules: dict[Mailbox, UserRules]) -> Decision:
        """The account's rules for this message; a broken rule never fails a delivery.
        ``batch_rules``: each account's rules as read once for the whole batch (a `stat` of
        its rules file per message before), so a rule changed during a batch applies from the
        next one, a few milliseconds later."""
        try:
            key = (account.domain, account.username)
            rules = batch_rules.get(key)
            if rules is None:
                rules = batch_rules[key] = self.rules.rules(account)
            if not rules.active:
                return KEEP
            parsed = facts[0]
            if parsed is None:
                parsed = facts[0] = MessageFacts(job.base)
            return self.rules.decide(account, parsed, rules)
        except Exception:
            log.exception("the rules of %s failed: delivered to INBOX", account.address)
            return KEEP

    def _plan_and_store(self, jobs: list[_Job]) -> list[_Stored]:
        """Plan a batch of messages and store them: every message for one mailbox goes into
        one `append_many` (one group commit), whichever message and recipient it came for.
        Runs on a worker thread (see `Batcher`)."""
        known: dict[tuple[str, ...], _Plan] = {}  # a batch often has one recipient list
        plans = []
        with self.accounts.pinned():  # one generation `stat` per batch (see `pinned`)
            for job in jobs:
                key = tuple(job.recipients)
                plan = known.get(key)
                if plan is None:
                    plan = known[key] = self._plan(job.recipients)
                plans.append(plan)
        stored: list[dict[Mailbox, Reply]] = [{} for _ in jobs]
        forwards: list[list[_Forward]] = [[] for _ in jobs]
        per_mailbox: dict[Mailbox, tuple[Account, list[tuple[int, _Item]]]] = {}
        batch_rules: dict[Mailbox, UserRules] = {}
        for i, (job, plan) in enumerate(zip(jobs, plans, strict=True)):
            facts: list[MessageFacts | None] = [None]  # parsed once per message, if needed
            for mbox, acc in plan.accounts.items():
                item = self._prepare(acc, job)
                if isinstance(item, Reply):
                    stored[i][mbox] = item
                    continue
                assert isinstance(acc, Account)
                decision = self._decide(acc, job, facts, batch_rules)
                if decision.forward:
                    forwards[i].append(_Forward(acc, trace.delivered_to(acc.address) + job.base,
                                                decision.forward))
                if not decision.store:
                    stored[i][mbox] = DELIVERED  # accepted; the rules dropped or forwarded it
                    continue
                per_mailbox.setdefault(mbox, (acc, []))[1].append(
                    (i, (item, decision.folder, decision.flags)))
        # Several mailboxes commit in parallel (each INBOX has its own fsync wave); the last
        # one on this thread. Runners never fill the pool, so the helpers always get a thread.
        boxes = list(per_mailbox.items())
        helpers = [self._executor().submit(self._append_many, acc, [d for _, d in items])
                   for _, (acc, items) in boxes[:-1]]
        results = [f.result() for f in helpers]
        if boxes:
            acc, items = boxes[-1][1]
            results.append(self._append_many(acc, [d for _, d in items]))
        for (mbox, (_, items)), replies in zip(boxes, results, strict=True):
            for (i, _), reply in zip(items, replies, strict=True):
                stored[i][mbox] = reply
        return list(zip(plans, stored, forwards, strict=True))

    async def _deliver(self, base: bytes, mail_from: str, recipients: Sequence[str]) -> _Result:
        """Deliver ``base`` (trace headers + message) to local recipients and queue their
        forwards. Partial failures within one recipient are recorded in failed_targets."""
        result = _Result()
        head = header_block(base)
        if len(_RECEIVED.findall(head)) > MAX_HOPS:
            loop_reply = ALIAS_LOOP.but("Too many hops: mail loop")
            for rcpt in recipients:
                result.outcomes.setdefault(rcpt, Outcome(rcpt, loop_reply))
            return result
        seen = {m.strip().strip(b"<>").decode("utf-8", "replace").lower()
                for m in _DELIVERED_TO.findall(head)}
        plan, stored, ruled = await self._batcher().submit(
            _Job(list(recipients), base, mail_from, seen))
        for forward in ruled:
            await self._forward(forward, mail_from)

        forwards = list(dict.fromkeys(a for rcpt in plan.forwards for a in plan.forwards[rcpt]))
        forward_reply: Reply = QUEUED
        queue_id: str | None = None
        if forwards:
            try:
                queue_id = await self.queue.enqueue(base, mail_from=mail_from,
                                                    recipients=forwards)
            except Exception:
                log.exception("queueing forwards %s failed", forwards)
                forward_reply = LOCAL_ERROR

        for rcpt in recipients:
            if rcpt in result.outcomes:
                continue
            if rcpt in plan.refused:
                result.outcomes[rcpt] = Outcome(rcpt, plan.refused[rcpt])
                continue
            targets: list[tuple[str, Reply]] = []
            for mbox in plan.mailboxes[rcpt]:
                acc = plan.accounts[mbox]
                address = acc.address if isinstance(acc, Account) else "@".join(mbox[::-1])
                targets.append((address, stored[mbox]))
            targets += [(a, forward_reply) for a in plan.forwards[rcpt]]
            good = [a for a, r in targets if r.ok and a not in plan.forwards[rcpt]]
            failed = [(a, r) for a, r in targets if not r.ok]
            has_forward = bool(plan.forwards[rcpt]) and forward_reply.ok
            if len(failed) == len(targets):
                result.outcomes[rcpt] = Outcome(rcpt, _first_failure([r for _, r in failed]))
                result.failed_targets[rcpt] = failed
                continue
            reply = DELIVERED if good else QUEUED.but(f"Queued as {queue_id}")
            result.outcomes[rcpt] = Outcome(rcpt, reply, tuple(good),
                                            queue_id if has_forward else None)
            if failed:
                result.failed_targets[rcpt] = failed
        return result

    async def _forward(self, forward: _Forward, mail_from: str) -> None:
        """Queue a copy the rules forward: local targets through the local pipeline (their
        own rules apply), others with an SRS sender of the forwarding user's domain. The
        message is already accepted: a failure here is logged, never a reply."""
        local = [t for t in forward.targets if self._classify(t) is None]
        remote = [t for t in forward.targets if t not in local]
        try:
            if local:
                await self.queue.enqueue(forward.data, mail_from=mail_from, recipients=local,
                                         local=True)
            if remote:
                sender = self.srs.forward(mail_from, forward.account.domain)
                await self.queue.enqueue(forward.data, mail_from=sender, recipients=remote)
        except Exception:
            log.exception("forwarding for %s to %s failed", forward.account.address,
                          forward.targets)

    async def _settle(self, base: bytes, mail_from: str, result: _Result,
                      single_reply: bool) -> None:
        """Take over the failures rmail is responsible for (see the module docstring)."""
        owned: list[tuple[str, Reply]] = []
        any_ok = any(o.ok for o in result.outcomes.values())
        for rcpt, outcome in list(result.outcomes.items()):
            failures = result.failed_targets.get(rcpt, [])
            if outcome.ok:
                owned += failures
            elif single_reply and any_ok:
                owned += failures or [(rcpt, outcome.reply)]
                if outcome.reply.temporary:
                    result.outcomes[rcpt] = Outcome(
                        rcpt, QUEUED.but(f"Deferred ({outcome.reply}), will retry"))
        if not owned:
            return
        temporary = [a for a, r in owned if r.temporary]
        permanent = [(a, r) for a, r in owned if r.permanent]
        if temporary:
            await self.queue.enqueue(base, mail_from=mail_from, recipients=temporary,
                                     local=True)
        if permanent:
            await self.queue.bounce(base, mail_from=mail_from, failures=permanent)

    # -- public entry points -------------------------------------------------------------------
    def received(self, *, protocol: str, helo: str | None = None, peer_ip: str | None = None,
                 recipient: str | None = None, tls: str | None = None,
                 queue_id: str | None = None) -> bytes:
        """A ``Received:`` field naming this host, for front ends to pass as ``received``."""
        return trace.received(hostname=self.hostname, protocol=protocol, helo=helo,
                              peer_ip=peer_ip, recipient=recipient, tls=tls, queue_id=queue_id)

    async def deliver_local(self, raw: bytes, *, mail_from: str, recipients: Iterable[str],
                            received: bytes | None = None,
                            single_reply: bool = True) -> DeliveryReport:
        """Deliver a message to local recipients (addresses, aliases, regex rules, `+tag`)
        and return once it is durable in every INBOX reported as delivered.

        ``raw`` is stored byte for byte behind ``Return-Path:``, ``Delivered-To:`` and
        ``received`` (a ``Received:`` field from `received`; none when omitted). A recipient
        of a domain that is not local is refused with `NOT_LOCAL`; aliases that forward to
        other domains are queued. ``single_reply`` (SMTP, the API): when any recipient is
        accepted rmail owns the rest (retries them from the queue or bounces them); pass
        False for per-recipient replies (LMTP).
        """
        rcpts = list(dict.fromkeys(recipients))
        base = (received or b"") + raw
        sender = trace.envelope_sender(mail_from)
        result = await self._deliver(base, sender, rcpts)
        if result.failed_targets or not all(o.ok for o in result.outcomes.values()):
            await self._settle(base, sender, result, single_reply)
        return DeliveryReport(tuple(result.outcomes[r] for r in rcpts))

    async def submit(self, raw: bytes, *, principal: Principal, mail_from: str,
                     recipients: Iterable[str], received: bytes | None = None) -> DeliveryReport:
        """Send a message as an authenticated user: local recipients are delivered directly,
        remote ones queued (DKIM-signed when the From: domain has a key).

        Raises `SubmissionRefused` when the account may not send it at all: submission
        disabled (550 5.7.1), envelope sender or a From: address not the user's own or in
        the sender whitelist (553/550 5.7.1), no From: (550 5.6.0), or the recipients would
        exceed the account's 24-hour recipient limit (450 4.7.1). Otherwise returns one
        outcome per recipient; failures after the first acceptance are owned as in
        `deliver_local`.
        """
        rcpts = list(dict.fromkeys(recipients))
        sender = trace.envelope_sender(mail_from)
        account = await self.check_account(principal)
        refusal = check_sender(account, sender) or check_from_header(account, raw)
        if refusal is not None:
            raise SubmissionRefused(refusal)
        if len(rcpts) > self.limiter.remaining(account):
            raise SubmissionRefused(RATE_LIMITED)
        base = (received or b"") + raw

        local: list[str] = []
        remote: list[str] = []
        outcomes: dict[str, Outcome] = {}
        for rcpt in rcpts:
            kind = self._classify(rcpt)
            if kind is None:
                local.append(rcpt)
            elif kind is NOT_LOCAL:
                remote.append(rcpt)
            else:
                outcomes[rcpt] = Outcome(rcpt, kind)

        result = await self._deliver(base, sender, local) if local else _Result()
        if remote:
            try:
                qid = await self.queue.enqueue(base, mail_from=sender, recipients=remote,
                                               dkim=True)
                queued = QUEUED.but(f"Queued as {qid}")
                for rcpt in remote:
                    result.outcomes[rcpt] = Outcome(rcpt, queued, queue_id=qid)
            except Exception:
                log.exception("queueing a submission from %s failed", account.address)
                for rcpt in remote:
                    result.outcomes[rcpt] = Outcome(rcpt, LOCAL_ERROR)
        result.outcomes.update(outcomes)
        await self._settle(base, sender, result, single_reply=True)
        report = DeliveryReport(tuple(result.outcomes[r] for r in rcpts))
        self.limiter.record(account, len(report.accepted))
        return report


def _first_failure(replies: Sequence[Reply]) -> Reply:
    """The reply to give when every target failed: temporary wins (a retry may succeed)."""
    for reply in replies:
        if reply.temporary:
            return reply
    return replies[0]
