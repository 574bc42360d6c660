"""The spine: the long-lived objects of one rmail process, built once from the config by
`build_services` and handed to every front end (listeners get them as `ctx.core`, the web app
as `request.app[CORE_KEY]`). Nothing else builds a store: a component given no `Services`
fails loudly rather than making a private set.

One set per process means one `MailStore` (folder indexes loaded once), one `EventBus` (a
delivery wakes IMAP IDLE; in a multi-process server the bus is linked to the other processes,
see `rmail.bus`), one `Lockout` (failures on any protocol count against the same IP, and are
shared with the other workers over the bus), the drive, share, calendar and contact stores,
and the webmail session and preference stores (on disk, so every worker sees every session).

It also owns the thread pools, and is the one way to run blocking work off the loop:
`store_pool` for store calls (`run`), `password_pool` for argon2 hashes and verifications
(`run_password`: as many threads as cores, so a flood of logins neither takes the store's
threads nor holds 64 MiB of argon2 memory per thread beyond what the cores can compute), and
the mail store's fsync pool for commit waves. `close` shuts them down; no pool is created at
import. The only `asyncio.to_thread` calls left are the server's own start (building these
very services, the certificate) and stop (closing the pools), `auth.create_user`, a
one-shot helper for scripts that run no server, and `fsutil.alocked`, which no server code
uses.

Singletons (`start(singletons=True)`): the outbound queue runner, the VALARM reminder task, the
provisioning task (periodic fetch, deleted-account sweeper), the retention sweeper and the
search indexer run once
per server, in the single process or in the supervisor, never in a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rmail.auth import Authenticator
from rmail.auth.lockout import Lockout
from rmail.auth.tokens import stored_secret
from rmail.config import Config
from rmail.delivery import Delivery
from rmail.provisioning.task import ProvisioningTask
from rmail.queue import OutboundQueue
from rmail.scheduling.indexer import SearchIndexer
from rmail.scheduling.retention import RetentionTask
from rmail.store.accounts import Accounts
from rmail.store.calendars import CalendarStore
from rmail.store.contacts import ContactStore
from rmail.store.drive import DriveStore, ShareStore
from rmail.store.events import EventBus
from rmail.store.mailbox import MailStore
from rmail.store.preferences import Preferences
from rmail.store.retention import RetentionStore
from rmail.store.sessions import SessionStore

__all__ = ["PASSWORD_THREADS", "STORE_THREADS", "Services", "build_services"]

log = logging.getLogger(__name__)
T = TypeVar("T")
STORE_THREADS = 16  # store calls from the loops of one process (IMAP, API, DAV, drive)
PASSWORD_THREADS = os.cpu_count() or 2  # argon2 runs at once (CPU- and memory-bound)


@dataclass(frozen=True)
class Services:
    config: Config
    accounts: Accounts
    mail: MailStore
    events: EventBus
    lockout: Lockout
    auth: Authenticator
    # Built from the fields above when not given (`rmail.delivery`, `rmail.queue`).
    delivery: Delivery = field(default=None)  # type: ignore[assignment]
    queue: OutboundQueue = field(default=None)  # type: ignore[assignment]
    sessions: SessionStore = field(default=None)  # type: ignore[assignment]
    preferences: Preferences = field(default=None)  # type: ignore[assignment]
    # The periodic provisioning fetch and the deleted-accounts sweeper: once per server.
    provisioning: ProvisioningTask = field(default=None)  # type: ignore[assignment]
    drives: DriveStore = field(default=None)  # type: ignore[assignment]
    shares: ShareStore = field(default=None)  # type: ignore[assignment]
    calendars: CalendarStore = field(default=None)  # type: ignore[assignment]
    contacts: ContactStore = field(default=None)  # type: ignore[assignment]
    store_pool: ThreadPoolExecutor = field(default=None)  # type: ignore[assignment]
    password_pool: ThreadPoolExecutor = field(default=None)  # type: ignore[assignment]
    # Retention settings and the sweeper (a singleton task, `rmail.scheduling.retention`).
    retention: RetentionStore = field(default=None)  # type: ignore[assignment]
    retention_task: RetentionTask = field(default=None)  # type: ignore[assignment]
    # Keeps the users' search indexes in step with the change bus (a singleton task).
    indexer: SearchIndexer = field(default=None)  # type: ignore[assignment]
    # The link to the other processes (`rmail.bus.BusLink` in a worker, `BusHub` in the
    # supervisor), set by the bus itself; None in a single-process server.
    bus: Any = field(default=None, compare=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.preferences is None:
            object.__setattr__(self, "preferences", Preferences(self.config.mail_root))
        if self.sessions is None:
            webmail = self.config.webmail
            object.__setattr__(self, "sessions", SessionStore(
                self.config.mail_root, idle=webmail.session_idle_seconds,
                max_age=webmail.session_max_seconds))
        root = self.config.mail_root
        built = {"drives": DriveStore, "calendars": CalendarStore, "contacts": ContactStore}
        for name, cls in built.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, cls(root))
        if self.shares is None:
            object.__setattr__(self, "shares", self.drives.shares)
        for store in (self.drives, self.calendars, self.contacts):
            store.events = self.events  # their writes reach the change bus too
        if self.store_pool is None:
            object.__setattr__(self, "store_pool",
                               ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="rmail-store"))
        if self.password_pool is None:
            object.__setattr__(self, "password_pool", ThreadPoolExecutor(
                PASSWORD_THREADS, thread_name_prefix="rmail-argon2"))
        self.auth.run = self.run_password
        if self.queue is None:
            object.__setattr__(self, "queue", OutboundQueue(self.config, self.accounts))
        if self.delivery is None:
            object.__setattr__(self, "delivery",
                               Delivery(self.config, self.accounts, self.mail, self.queue,
                                        calendars=self.calendars))
        self.queue.attach(self.delivery)
        if self.retention is None:
            object.__setattr__(self, "retention", RetentionStore(self.mail))
        if self.retention_task is None:
            object.__setattr__(self, "retention_task", RetentionTask(
                self.retention, self.accounts, interval=self.config.retention.sweep_seconds,
                batch=self.config.retention.batch, run=self.run))
        if self.indexer is None:
            object.__setattr__(self, "indexer", SearchIndexer(
                self.mail, self.events, run=self.run, users=self.retention_task.users))
        if self.provisioning is None:
            object.__setattr__(self, "provisioning",
                               ProvisioningTask(self.config, self.accounts, self.mail.forget,
                                                run=self.run))

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """The one way to run blocking store work off the loop: on `store_pool`."""
        return await _in_pool(self.store_pool, fn, args, kwargs)

    async def run_password(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Password hashing and verification (argon2, tens of milliseconds of CPU and 64 MiB
        each) off the loop: on `password_pool`."""
        return await _in_pool(self.password_pool, fn, args, kwargs)

    async def start(self, *, singletons: bool = True) -> None:
        """Start background work once every listener serves. ``singletons``: the outbound
        queue runner, the VALARM reminders, the provisioning task and the retention sweeper
        (false in a worker of a multi-process server, where the supervisor runs them). Each
        start needs a matching `stop`."""
        if not singletons:
            return
        from rmail.scheduling import reminders

        await self.queue.start()
        self._tasks.append(asyncio.create_task(reminders.run_forever(self), name="rmail-reminders"))
        await self.provisioning.start()
        self._tasks.append(asyncio.create_task(self.retention_task.run_forever(),
                                               name="rmail-retention"))
        self._tasks.append(asyncio.create_task(self.indexer.run_forever(),
                                               name="rmail-indexer"))

    async def stop(self) -> None:
        """Stop background work (after the listeners stopped, so none can still enqueue)."""
        await self.provisioning.stop()
        tasks, self._tasks[:] = list(self._tasks), []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.queue.running:
            await self.queue.stop()

    def close(self) -> None:
        """Shut the thread pools down (the process is ending; nothing may call `run` after)."""
        self.store_pool.shutdown(wait=True, cancel_futures=True)
        self.password_pool.shutdown(wait=True, cancel_futures=True)
        self.mail.close()


async def _in_pool(pool: ThreadPoolExecutor, fn: Callable[..., T], args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> T:
    loop = asyncio.get_running_loop()
    call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
    return await loop.run_in_executor(pool, call)


def build_services(config: Config, **given: Any) -> Services:
    """Create the shared objects (cheap: nothing is read from disk until first use, except the
    generated JWT secret, which is read or made once under `secrets/`). ``given`` replaces
    objects by field name (tests hand in a queue with a fake transport, for example)."""
    if config.exchange_api.token_secret is None:
        try:
            config.mail_root.mkdir(mode=0o700, parents=True, exist_ok=True)
            secret = stored_secret(config.mail_root)
        except (OSError, ValueError) as exc:  # the server's prepare step reports mail_root
            log.warning("JWT secret not stored (%s): tokens end with this process", exc)
        else:
            config = dataclasses.replace(
                config, exchange_api=dataclasses.replace(config.exchange_api,
                                                         generated_secret=secret))
    accounts = given.pop("accounts", None) or Accounts(config.mail_root)
    events = given.pop("events", None) or EventBus()
    mail = given.pop("mail", None) or MailStore(config.mail_root, events)
    security = config.security
    lockout = given.pop("lockout", None) or Lockout(
        security.lockout_attempts, security.lockout_seconds, security.rate_limit_per_minute,
        [str(n) for n in security.trusted_networks])
    default_domain = config.domains[0] if config.domains else None
    auth = given.pop("auth", None) or Authenticator(accounts, lockout, default_domain)
    return Services(config, accounts, mail, events, lockout, auth, **given)
