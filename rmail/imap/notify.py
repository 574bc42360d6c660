"""NOTIFY (RFC 5465): what a session asked to hear about, and the pure parts of telling it.

`NotifySpec` is a checked NOTIFY SET: the events wanted for the selected mailbox and, per
event group in the client's order, a mailbox filter with its events (the first group whose
filter matches a mailbox decides, RFC 5465 §6). `NotifyState` is what the session keeps
between notifications: the message events of other mailboxes not yet told (folder id ->
store change kinds), and the folder list and subscriptions last seen, from which
MailboxName and SubscriptionChange are derived by difference. The events arrive as store
`Change`s on the session's event-bus subscription, from this process or, through
`rmail.bus`, from another worker; the session's handler (`commands/notify.py`) reads the
index and folder list to say what they mean now, so a coalesced or lost event never tells
the client anything false.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rmail.imap.errors import ImapBad, ImapNo
from rmail.imap.syntax import FetchAtt, Notify
from rmail.store.folders import INBOX, FolderEntry

# Events this server sends, as the client spells them (for NO [BADEVENT (...)]).
SUPPORTED = {"MESSAGENEW": "MessageNew", "MESSAGEEXPUNGE": "MessageExpunge",
             "FLAGCHANGE": "FlagChange", "MAILBOXNAME": "MailboxName",
             "SUBSCRIPTIONCHANGE": "SubscriptionChange"}
MESSAGE_EVENTS = frozenset({"MESSAGENEW", "MESSAGEEXPUNGE", "FLAGCHANGE", "ANNOTATIONCHANGE"})
# store change kind -> the NOTIFY event it is
KIND_EVENT = {"append": "MESSAGENEW", "expunge": "MESSAGEEXPUNGE", "flags": "FLAGCHANGE"}
# The STATUS items that tell a client about each event in a mailbox it has not selected
# (RFC 5465 §5.1-5.3), in the order they are written.
STATUS_FOR = (("MESSAGES", ("MESSAGENEW", "MESSAGEEXPUNGE")),
              ("UIDNEXT", ("MESSAGENEW",)), ("UIDVALIDITY", ("MESSAGENEW", "FLAGCHANGE")),
              ("HIGHESTMODSEQ", ("FLAGCHANGE",)))


@dataclass(frozen=True)
class Group:
    filter: str  # INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES
    mailboxes: tuple[str, ...]
    events: frozenset[str]

    def matches(self, name: str, subscribed: set[str]) -> bool:
        if self.filter == "PERSONAL":
            return True
        if self.filter == "INBOXES":  # where new mail is delivered: INBOX here
            return name == INBOX
        if self.filter == "SUBSCRIBED":
            return name in subscribed
        if self.filter == "MAILBOXES":
            return name in self.mailboxes
        return any(name == m or name.startswith(m + "/") for m in self.mailboxes)  # SUBTREE


@dataclass(frozen=True)
class NotifySpec:
    selected: frozenset[str]  # message events for the selected mailbox
    delayed: bool  # SELECTED-DELAYED: expunges wait for a command that allows them
    fetch: tuple[FetchAtt, ...]  # sent with MessageNew in the selected mailbox
    groups: tuple[Group, ...]

    def events_for(self, name: str, subscribed: set[str]) -> frozenset[str]:
        """The events wanted for mailbox `name` when it is not selected."""
        for group in self.groups:
            if group.matches(name, subscribed):
                return group.events
        return frozenset()

    def wants_mailbox_events(self) -> bool:
        return any(g.events & {"MAILBOXNAME", "SUBSCRIPTIONCHANGE"} for g in self.groups)


def compile_spec(cmd: Notify) -> NotifySpec:
    """Check a NOTIFY SET (RFC 5465 §3, §5) and turn it into a NotifySpec."""
    assert cmd.groups is not None
    unknown = {e for g in cmd.groups for e in g.events} - set(SUPPORTED)
    if unknown:  # RFC 5465 §3: NO [BADEVENT (what we support)]
        raise ImapNo(f"unsupported event {sorted(unknown)[0]}",
                     "BADEVENT (" + " ".join(SUPPORTED.values()) + ")")
    selected: frozenset[str] = frozenset()
    delayed = False
    fetch: tuple[FetchAtt, ...] = ()
    groups: list[Group] = []
    seen_selected = False
    for g in cmd.groups:
        events = frozenset(g.events)
        if g.filter in ("SELECTED", "SELECTED-DELAYED"):
            if seen_selected:
                raise ImapBad("SELECTED named twice")
            seen_selected = True
            if events - MESSAGE_EVENTS:
                raise ImapBad("only message events apply to the selected mailbox")
            # RFC 5465 §5: the selected mailbox's numbering needs both or neither
            if events and not {"MESSAGENEW", "MESSAGEEXPUNGE"} <= events:
                raise ImapBad("MessageNew and MessageExpunge go together for SELECTED")
            selected, delayed, fetch = events, g.filter == "SELECTED-DELAYED", g.fetch
            continue
        if g.fetch:
            raise ImapBad("MessageNew fetch attributes apply to the selected mailbox only")
        groups.append(Group(g.filter, g.mailboxes, events))
    return NotifySpec(selected, delayed, fetch, tuple(groups))


def status_items(events: Iterable[str]) -> tuple[str, ...]:
    """The STATUS items that report `events` in a mailbox that is not selected."""
    wanted = set(events)
    return tuple(item for item, why in STATUS_FOR if wanted.intersection(why))


@dataclass
class NotifyState:
    """A session's NOTIFY: the spec and what is yet to be told (see the module docstring)."""

    spec: NotifySpec
    pending: dict[str, set[str]] = field(default_factory=dict)  # folder id -> events
    folders_changed: bool = False
    resync: bool = False  # events were lost: tell every watched mailbox's status
    names: dict[str, str | None] = field(default_factory=dict)  # name -> folder id
    subscribed: set[str] = field(default_factory=set)
    top_folder: str | None = None  # the selected folder `top_uid` is of
    top_uid: int = 0  # highest UID of the selected mailbox whose MessageNew FETCH was sent

    def remember(self, entries: list[FolderEntry], subscriptions: list[str]) -> None:
        self.names = {e.name: e.folder_id for e in entries}
        self.subscribed = set(subscriptions)


def list_changes(old: dict[str, str | None], new: dict[str, str | None],
                 old_subs: set[str], new_subs: set[str], spec: NotifySpec
                 ) -> list[tuple[str, str, str | None]]:
    """(attributes, name, old name) of the LIST responses that tell MailboxName and
    SubscriptionChange events (RFC 5465 §5.4, §5.5): a new mailbox, a deleted one
    (`\\NonExistent`), a renamed one (with its OLDNAME, RFC 5465 §5.4), a subscription
    added (`\\Subscribed`) or removed."""
    out: list[tuple[str, str, str | None]] = []
    renamed_from = {fid: name for name, fid in old.items() if fid is not None}
    new_ids = {fid for fid in new.values() if fid is not None}
    for name, fid in new.items():
        if name in old and old[name] == fid:
            continue
        before = renamed_from.get(fid) if fid is not None else None
        if before is not None and before not in new:
            wanted = spec.events_for(name, new_subs) | spec.events_for(before, old_subs)
            if "MAILBOXNAME" in wanted:
                out.append(("", name, before))
        elif "MAILBOXNAME" in spec.events_for(name, new_subs):
            out.append(("\\Subscribed" if name in new_subs else "", name, None))
    for name, fid in old.items():
        if name in new or (fid is not None and fid in new_ids):
            continue  # still there, or renamed (told above)
        if "MAILBOXNAME" in spec.events_for(name, old_subs):
            out.append(("\\NonExistent", name, None))
    for name in sorted(new_subs ^ old_subs):
        if "SUBSCRIPTIONCHANGE" in spec.events_for(name, new_subs | old_subs):
            out.append(("\\Subscribed" if name in new_subs else "", name, None))
    return out
