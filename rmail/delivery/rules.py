"""A user's rules applied to one delivery: filters (`rmail.mail.filters`), the user's own
forwarding (`forward`, `forwardKeep`), the per-24-hour forward limit and SRS.

`Rules.decide` runs on a delivery thread for each (message, mailbox) and returns where the
copy goes (folder, flags, or nowhere) and which addresses get a forwarded copy. The pipeline
stores and queues accordingly. Forwarded copies carry the user's ``Delivered-To:`` so a
forward cycle through local users ends at the pipeline's loop check, and leave with an SRS
envelope sender of the user's domain when they go to another domain.

The forward limit counts forwarded recipients per user in `forward.log` (the same
append-only window as the submission limit, `rmail.store.sendlog`). A message over the limit
is not forwarded and is always kept in the mailbox, whatever ``forwardKeep`` says, so nothing
is lost.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rmail.mail.filters import MessageFacts, evaluate
from rmail.store.accounts import Account, Accounts, normalize_address
from rmail.store.errors import InvalidValue, NotFound
from rmail.store.mailbox import MailStore
from rmail.store.mailrules import MailRules, UserRules
from rmail.store.sendlog import SendLog

__all__ = ["Decision", "ForwardLimiter", "Rules", "check_forward_target", "folder_for_id"]

log = logging.getLogger(__name__)

DAY = 86400.0
INBOX = "INBOX"
JUNK = "\\Junk"


@dataclass
class Decision:
    """Where one copy of a message goes for one mailbox."""

    store: bool = True
    folder: str = INBOX
    flags: tuple[str, ...] = ()
    forward: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)


KEEP = Decision()


class ForwardLimiter:
    """Forwarded recipients per user in the last 24 hours, kept in the user's `forward.log`
    (survives restarts; each process appends what it forwarded). Thread-safe."""

    def __init__(self, mail: MailStore, *, window: float = DAY,
                 clock: Callable[[], float] = time.time) -> None:
        self.layout = mail.layout
        self.window = window
        self.clock = clock
        self._logs: dict[tuple[str, str], tuple[tuple[int, int] | None, SendLog]] = {}
        self._lock = threading.Lock()

    def _log(self, domain: str, username: str) -> SendLog:
        """The user's log, reread when another process appended to it."""
        path = self.layout.forward_log(domain, username)
        try:
            st = os.stat(path)
            key: tuple[int, int] | None = (st.st_ino, st.st_size)
        except FileNotFoundError:
            key = None
        hit = self._logs.get((domain, username))
        if hit is not None and hit[0] == key:
            return hit[1]
        sendlog = SendLog(path, self.window)
        self._logs[(domain, username)] = (key, sendlog)
        return sendlog

    def take(self, account: Account, wanted: int, limit: int) -> int:
        """Claim up to ``wanted`` forwards; returns how many were granted."""
        if wanted <= 0:
            return 0
        now = self.clock()
        with self._lock:
            sendlog = self._log(account.domain, account.username)
            granted = max(0, min(wanted, limit - sendlog.expire(now)))
            if granted:
                sendlog.add(now, granted)
                path = self.layout.forward_log(account.domain, account.username)
                try:
                    st = os.stat(path)
                    self._logs[(account.domain, account.username)] = (
                        (st.st_ino, st.st_size), sendlog)
                except FileNotFoundError:
                    pass
            return granted

    def used(self, account: Account) -> int:
        with self._lock:
            return self._log(account.domain, account.username).expire(self.clock())


def check_forward_target(accounts: Accounts, store: MailRules, account: Account,
                         address: str) -> str:
    """A forward address of ``account`` (the `forward` list or a filter's `targets`),
    normalised: valid, not one of the account's own addresses, and not a local user who
    forwards straight back (a two-step loop; longer cycles end at the pipeline's
    `Delivered-To:` loop check). Raises InvalidValue saying which."""
    try:
        addr = normalize_address(address)
    except InvalidValue as exc:
        raise InvalidValue(f"forward target {address!r} is not an e-mail address") from exc
    own = {a.lower() for a in (account.address, *account.addresses,
                               f"{account.username}@{account.domain}")}
    if addr in own:
        raise InvalidValue(f"forward target {addr} is this account: a forward loop")
    owner = accounts.find_address(addr)
    if owner is not None:
        rules = store.get(*owner)
        back = {a.lower() for a in rules.forward} | {
            t.lower() for f in rules.filters if not f.disabled
            for t in f.action.get("targets", ())}
        if own & back:
            raise InvalidValue(f"forward target {addr} forwards back to {account.address}: "
                               "a forward loop")
    return addr


def folder_for_id(mail: MailStore, domain: str, username: str, mailbox_id: str) -> str:
    """The name of the folder whose mailbox id (`Folder.mailbox_id`, the JSON API's id) is
    ``mailbox_id``; NotFound when there is none."""
    mailbox = mail.mailbox(domain, username)
    for entry in mailbox.entries():
        if entry.folder_id is None:
            continue
        folder = mailbox.folder(entry.name)
        if folder.mailbox_id() == mailbox_id:
            return entry.name
    raise NotFound(f"no mailbox with id {mailbox_id}")


class Rules:
    """Decides, per delivered copy, what the user's rules want (``services.delivery.rules``)."""

    def __init__(self, store: MailRules, mail: MailStore, limiter: ForwardLimiter, *,
                 forwards_per_day: int) -> None:
        self.store = store
        self.mail = mail
        self.limiter = limiter
        self.forwards_per_day = forwards_per_day  # config: the limit unless an admin set one
        # (domain, username, mailbox id) -> (folders.json stat key, folder name)
        self._ids: dict[tuple[str, str, str], tuple[tuple[int, int], str]] = {}

    def rules(self, account: Account) -> UserRules:
        return self.store.get(account.domain, account.username)

    def _folder(self, account: Account, mailbox_id: str) -> str | None:
        mailbox = self.mail.mailbox(account.domain, account.username)
        try:
            st = os.stat(mailbox.layout.folders_file)
        except FileNotFoundError:
            return None
        key = (st.st_ino, st.st_mtime_ns)
        cache_key = (account.domain, account.username, mailbox_id)
        hit = self._ids.get(cache_key)
        if hit is not None and hit[0] == key:
            return hit[1]
        try:
            name = folder_for_id(self.mail, account.domain, account.username, mailbox_id)
        except NotFound:
            return None
        if len(self._ids) > 10_000:
            self._ids.clear()
        self._ids[cache_key] = (key, name)
        return name

    def _junk(self, account: Account) -> str | None:
        folder = self.mail.mailbox(account.domain, account.username).folder_by_special_use(JUNK)
        return folder.name if folder is not None else None

    def decide(self, account: Account, facts: MessageFacts,
               rules: UserRules | None = None) -> Decision:
        """Evaluate the account's filters and forwarding for one message (a delivery
        thread; reads only cached documents unless they changed). ``rules``: the account's
        rules when the caller already has them (a delivery batch reads them once)."""
        if rules is None:
            rules = self.rules(account)
        if not rules.active:
            return KEEP
        verdict = evaluate(rules.filters, facts)
        decision = Decision(flags=tuple(sorted(verdict.flags)), matched=verdict.matched)
        if verdict.mailbox is not None:
            name = self._folder(account, verdict.mailbox)
            if name is None:
                log.warning("filter of %s names mailbox %s, which is gone: INBOX instead",
                            account.address, verdict.mailbox)
            else:
                decision.folder = name
        elif verdict.spam:
            decision.folder = self._junk(account) or INBOX
        decision.store = not verdict.discard
        own = {a.lower() for a in (account.address, *account.addresses)}
        targets = [t for t in dict.fromkeys([*rules.forward, *verdict.targets])
                   if t.lower() not in own]
        filed = verdict.mailbox is not None or verdict.spam
        if rules.forward and not rules.forward_keep and not filed:
            decision.store = False  # forwardKeep false: the forward replaces the INBOX copy
        if targets:
            limit = rules.forward_limit(self.forwards_per_day)
            granted = self.limiter.take(account, len(targets), limit)
            if granted < len(targets):
                log.warning("forward limit of %s reached (%d per 24 h): %d of %d targets "
                            "not forwarded, message kept", account.address,
                            limit, len(targets) - granted, len(targets))
                decision.store = True
            decision.forward = targets[:granted]
        elif not verdict.discard:
            decision.store = True  # nothing left to forward to: never drop the only copy
        return decision
