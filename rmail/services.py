"""The long-lived objects of one rmail process, built once from the config and handed to every
front end (listeners get them as `ctx.services["core"]`, the web app as `request.app[CORE_KEY]`).

Front ends share one `MailStore` (so folder indexes are loaded once per process), one
`EventBus` (so a delivery wakes IMAP IDLE), and one `Lockout` (so failures on any protocol
count against the same IP).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rmail.auth import Authenticator
from rmail.auth.lockout import Lockout
from rmail.config import Config
from rmail.delivery import Delivery
from rmail.provisioning.task import ProvisioningTask
from rmail.queue import OutboundQueue
from rmail.store.accounts import Accounts
from rmail.store.events import EventBus
from rmail.store.mailbox import MailStore
from rmail.store.preferences import Preferences
from rmail.store.sessions import SessionStore


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

    def __post_init__(self) -> None:
        if self.preferences is None:
            object.__setattr__(self, "preferences", Preferences(self.config.mail_root))
        if self.sessions is None:
            webmail = self.config.webmail
            object.__setattr__(self, "sessions", SessionStore(
                self.config.mail_root, idle=webmail.session_idle_seconds,
                max_age=webmail.session_max_seconds))
        if self.queue is None:
            object.__setattr__(self, "queue", OutboundQueue(self.config, self.accounts))
        if self.delivery is None:
            object.__setattr__(self, "delivery",
                               Delivery(self.config, self.accounts, self.mail, self.queue))
        self.queue.attach(self.delivery)
        if self.provisioning is None:
            object.__setattr__(self, "provisioning",
                               ProvisioningTask(self.config, self.accounts, self.mail.forget))

    async def start(self) -> None:
        """Start background work (the outbound queue worker); the server calls it once every
        listener serves. Idempotent per start/stop pair."""
        await self.queue.start()
        await self.provisioning.start()

    async def stop(self) -> None:
        """Stop background work (after the listeners stopped, so none can still enqueue)."""
        await self.provisioning.stop()
        await self.queue.stop()


def build_services(config: Config) -> Services:
    """Create the shared objects (cheap: nothing is read from disk until first use)."""
    accounts = Accounts(config.mail_root)
    events = EventBus()
    mail = MailStore(config.mail_root, events)
    security = config.security
    lockout = Lockout(security.lockout_attempts, security.lockout_seconds,
                      security.rate_limit_per_minute,
                      [str(n) for n in security.trusted_networks])
    default_domain = config.domains[0] if config.domains else None
    auth = Authenticator(accounts, lockout, default_domain)
    return Services(config, accounts, mail, events, lockout, auth)
