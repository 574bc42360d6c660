"""Mailbox commands: SELECT/EXAMINE (with CONDSTORE and QRESYNC), CREATE (CREATE-SPECIAL-USE),
DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE, CHILDREN),
LSUB, STATUS, and QUOTA (RFC 9208: one root "" with STORAGE)."""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass
from typing import Any

from rmail.imap import responses as r
from rmail.imap.commands.base import Done
from rmail.imap.errors import ImapNo
from rmail.imap.sequence import compress
from rmail.imap.session import SelectedView, Session, State, keywords_of
from rmail.imap.syntax import Create, GetQuota, ListCmd, Mailbox, Rename, Select, SetQuota, Status
from rmail.store.errors import Conflict, InvalidValue, NotFound
from rmail.store.folders import INBOX, SEPARATOR, FolderEntry
from rmail.store.journal import DELETED, SEEN, FolderIndex


def _folder_name(name: str) -> str:
    """RFC 3501 §6.3.3: a trailing hierarchy separator is ignored."""
    stripped = name.rstrip(SEPARATOR)
    return stripped or name


# -- SELECT / EXAMINE -------------------------------------------------------------------------
@dataclass
class _Opened:
    uids: array[int]
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    first_unseen: int | None
    keywords: frozenset[str]
    vanished: list[int]
    changed: list[tuple[int, tuple[str, ...], int]]


def _open(idx: FolderIndex, qresync: Any) -> _Opened:
    first_unseen = None
    if idx.unseen:
        seen = {fid for fid, fs in enumerate(idx.flagsets) if SEEN in fs}
        for i, fid in enumerate(idx.flag_ids):
            if fid not in seen:
                first_unseen = i + 1
                break
    vanished: list[int] = []
    changed: list[tuple[int, tuple[str, ...], int]] = []
    if qresync is not None and qresync.uidvalidity == idx.uidvalidity:
        since = qresync.modseq
        known = qresync.known_uids
        top = idx.uidnext - 1
        van = idx.vanished_since(since)
        if van is None:  # RFC 7162 §3.2.5.1: everything the client may know and we lack
            present = set(idx.uids)
            if known is not None:
                candidates = [u for lo, hi in known.ranges
                              for u in range(min(lo or top, hi or top),
                                             min(max(lo or top, hi or top), top) + 1)]
            else:
                candidates = list(range(1, top + 1))
            vanished = sorted(u for u in set(candidates) if u not in present)
        else:
            vanished = [u for u in van if known is None or known.contains_uid(u, top)]
        changed = [(idx.uids[i], idx.flags_of(i), idx.modseqs[i]) for i in range(len(idx))
                   if idx.modseqs[i] > since
                   and (known is None or known.contains_uid(idx.uids[i], top))]
    return _Opened(array("q", idx.uids), idx.uidvalidity, idx.uidnext, idx.highestmodseq,
                   first_unseen, keywords_of(idx), vanished, changed)


async def select(s: Session, args: Select) -> Done:
    if s.selected is not None:
        s.deselect()
        if s.qresync or s.rev2:
            s.untagged(b"OK [CLOSED] Previous mailbox is now closed")
    if args.qresync is not None and not s.qresync:
        raise ImapNo("QRESYNC must be enabled first", "CLIENTBUG")
    if args.condstore or args.qresync is not None:
        s.condstore_seen = True
    assert s.mailbox is not None
    folder = await s.run(s.mailbox.folder, args.mailbox)
    opened = await s.run(folder.read_index, lambda idx: _open(idx, args.qresync))
    view = SelectedView(folder, args.readonly, opened.uidvalidity, opened.uids,
                        opened.highestmodseq, opened.keywords,
                        claims_recent=not args.readonly and not s.rev2)
    if view.claims_recent:  # RFC 3501 §6.3.2: EXAMINE must not take \Recent away
        view.recent = set(await s.run(folder.claim_recent, opened.uids))
    elif not s.rev2:
        view.peeked_recent = await s.run(folder.unclaimed_recent)
    s.untagged(view.flags_line())
    s.untagged(b"OK [PERMANENTFLAGS " + view.permanent_flags() + b"] Flags permitted")
    s.untagged(b"%d EXISTS" % len(view.uids))
    if not s.rev2:
        view.recent_sent = view.recent_count()
        s.untagged(b"%d RECENT" % view.recent_sent)
        if opened.first_unseen is not None:
            s.untagged(b"OK [UNSEEN %d] First unseen" % opened.first_unseen)
    s.untagged(b"OK [UIDVALIDITY %d] UIDs valid" % opened.uidvalidity)
    s.untagged(b"OK [UIDNEXT %d] Predicted next UID" % opened.uidnext)
    s.untagged(b"OK [MAILBOXID (%s)] Ok" % (await s.run(folder.mailbox_id)).encode())
    s.untagged(b"OK [HIGHESTMODSEQ %d] Highest" % opened.highestmodseq)
    if s.rev2:
        s.untagged(b'LIST () "/" ' + s.mailbox_name(folder.name))
    if opened.vanished:
        s.untagged(b"VANISHED (EARLIER) " + compress(opened.vanished).encode())
    for uid, flags, modseq in opened.changed:
        seq = view.seq_of(uid) or 0  # `changed` only lists UIDs of the index we just read
        s.untagged(b"%d FETCH (UID %d FLAGS %s MODSEQ (%d))" % (
            seq, uid, r.flag_list(view.with_recent(uid, flags)), modseq))
    s.selected = view
    s.saved = []
    s.state = State.SELECTED
    return Done("completed", "READ-ONLY" if args.readonly else "READ-WRITE")


# -- CREATE / DELETE / RENAME / SUBSCRIBE -----------------------------------------------------
async def create(s: Session, args: Create) -> Done:
    assert s.mailbox is not None
    name = _folder_name(args.mailbox)
    if name.upper() == INBOX:
        raise ImapNo("INBOX always exists", "ALREADYEXISTS")
    if len(args.special_use) > 1:
        raise ImapNo("a mailbox can have only one special use here", "USEATTR")
    use = args.special_use[0] if args.special_use else None
    try:
        folder = await s.run(s.mailbox.create_folder, name, use)
    except Conflict as exc:
        raise ImapNo(str(exc), "USEATTR") from None
    except InvalidValue as exc:
        if use is not None:
            raise ImapNo(str(exc), "USEATTR") from None
        raise ImapNo(str(exc), "CANNOT") from None
    except ValueError as exc:  # UnsafeName
        raise ImapNo(str(exc), "CANNOT") from None
    return Done(code=f"MAILBOXID ({await s.run(folder.mailbox_id)})")  # RFC 8474 §4.1


async def _is_selected(s: Session, name: str) -> bool:
    """Whether `name` is the selected folder, judged by folder id (names change by RENAME)."""
    assert s.mailbox is not None and s.selected is not None
    try:
        entry = await s.run(s.mailbox.entry, name)
    except (NotFound, ValueError):
        return False
    return entry.folder_id == s.selected.folder.id


async def delete(s: Session, args: Mailbox) -> Done:
    assert s.mailbox is not None
    name = _folder_name(args.mailbox)
    if s.selected is not None and await _is_selected(s, name):
        s.deselect()
        if s.qresync or s.rev2:
            s.untagged(b"OK [CLOSED] Previous mailbox is now closed")
    try:
        await s.run(s.mailbox.delete_folder, name)
    except ValueError as exc:
        raise ImapNo(str(exc), "CANNOT") from None
    return Done()


async def rename(s: Session, args: Rename) -> Done:
    assert s.mailbox is not None
    try:
        await s.run(s.mailbox.rename_folder, _folder_name(args.old), _folder_name(args.new))
    except ValueError as exc:
        raise ImapNo(str(exc), "CANNOT") from None
    return Done()


async def subscribe(s: Session, args: Mailbox) -> Done:
    assert s.mailbox is not None
    try:
        await s.run(s.mailbox.set_subscribed, _folder_name(args.mailbox), True)
    except ValueError as exc:
        raise ImapNo(str(exc), "CANNOT") from None
    return Done()


async def unsubscribe(s: Session, args: Mailbox) -> Done:
    assert s.mailbox is not None
    try:
        await s.run(s.mailbox.set_subscribed, _folder_name(args.mailbox), False)
    except ValueError as exc:
        raise ImapNo(str(exc), "CANNOT") from None
    return Done()


# -- LIST / LSUB ------------------------------------------------------------------------------
def pattern_regex(pattern: str) -> re.Pattern[str]:
    """LIST wildcards: "*" matches anything, "%" anything but the separator; INBOX is
    case-insensitive (RFC 3501 §6.3.8)."""
    if pattern[:5].upper() == INBOX and (len(pattern) == 5 or pattern[5] in "/*%"):
        pattern = INBOX + pattern[5:]
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append("[^/]*")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _parents(name: str) -> list[str]:
    parts = name.split(SEPARATOR)
    return [SEPARATOR.join(parts[:i]) for i in range(1, len(parts))]


@dataclass
class _Listing:
    name: str
    attrs: list[str]
    childinfo: bool = False
    selectable: bool = False


def list_mailboxes(entries: list[FolderEntry], subscriptions: list[str], cmd: ListCmd
                   ) -> list[_Listing]:
    """The LIST (or LSUB) result: names and attributes, in the order to send them."""
    pats = [pattern_regex(cmd.reference + p) for p in cmd.patterns if p or not cmd.reference]
    pats = pats or [pattern_regex(cmd.reference)]

    def matches(name: str) -> bool:
        return any(p.match(name) for p in pats)

    by_name = {e.name: e for e in entries}
    subscribed = set(subscriptions)
    has_children: set[str] = set()
    for name in by_name:
        has_children.update(_parents(name))

    def base_attrs(name: str) -> list[str]:
        e = by_name.get(name)
        if e is None:
            return ["\\NonExistent"]
        attrs = [] if e.selectable else ["\\Noselect"]
        attrs.append("\\HasChildren" if name in has_children else "\\HasNoChildren")
        if e.special_use:
            attrs.append(e.special_use)
        return attrs

    out: list[_Listing] = []
    if cmd.lsub:
        for name in sorted(subscribed, key=lambda n: (n != INBOX, n)):
            if matches(name):
                e = by_name.get(name)
                out.append(_Listing(name, [] if e is None or e.selectable else ["\\Noselect"]))
        seen = {x.name for x in out}
        for name in sorted(subscribed):
            for parent in _parents(name):
                # RFC 3501 §6.3.9: a parent stands in for children that "%" hides
                if parent not in seen and parent not in subscribed and matches(parent) \
                        and not matches(name):
                    out.append(_Listing(parent, ["\\Noselect"]))
                    seen.add(parent)
        return out

    sel, ret = cmd.select_opts, cmd.return_opts
    show_subscribed = "SUBSCRIBED" in sel or "SUBSCRIBED" in ret
    if "SUBSCRIBED" in sel:
        names = sorted(subscribed, key=lambda n: (n != INBOX, n))
        if "SPECIAL-USE" in sel:
            names = [n for n in names if n in by_name and by_name[n].special_use]
        chosen = set(names)
        for name in names:
            if matches(name):
                attrs = [*base_attrs(name), "\\Subscribed"]
                out.append(_Listing(name, attrs, selectable=name in by_name
                                    and by_name[name].selectable))
        if "RECURSIVEMATCH" in sel:  # RFC 5258 §3.5: parents whose children matched
            emitted = {x.name: x for x in out}
            for name in names:
                if matches(name):  # listed itself: its parents need no CHILDINFO for it
                    continue
                for parent in _parents(name):
                    if parent in emitted:
                        emitted[parent].childinfo = True
                    elif matches(parent):
                        attrs = base_attrs(parent)
                        if parent in chosen:
                            attrs.append("\\Subscribed")
                        emitted[parent] = _Listing(parent, attrs, childinfo=True)
                        out.append(emitted[parent])
        return out
    for e in entries:
        if "SPECIAL-USE" in sel and not e.special_use:
            continue
        if matches(e.name):
            attrs = base_attrs(e.name)
            if show_subscribed and e.name in subscribed:
                attrs.append("\\Subscribed")
            out.append(_Listing(e.name, attrs, selectable=e.selectable))
    return out


async def list_(s: Session, args: ListCmd) -> Done:
    assert s.mailbox is not None
    verb = b"LSUB " if args.lsub else b"LIST "
    if not args.patterns:  # every pattern was invalid modified UTF-7: nothing matches
        return Done()
    if not args.lsub and args.patterns == ("",):  # RFC 3501 §6.3.8: the hierarchy delimiter
        s.untagged(b'LIST (\\Noselect) "/" ""')
        return Done()
    mailbox = s.mailbox
    entries, subs = await s.run(lambda: (mailbox.entries(), mailbox.subscriptions()))
    for item in list_mailboxes(entries, subs, args):
        line = verb + r.flag_list(item.attrs) + b' "/" ' + s.mailbox_name(item.name)
        if item.childinfo:
            line += b' ("CHILDINFO" ("SUBSCRIBED"))'
        s.untagged(line)
        if args.status is not None and item.selectable:
            try:
                values = await status_values(s, item.name, args.status)
            except (NotFound, ImapNo):
                continue
            s.untagged(b"STATUS " + s.mailbox_name(item.name) + b" " + values)
    return Done()


# -- STATUS -----------------------------------------------------------------------------------
def _counts(idx: FolderIndex) -> dict[str, int]:
    deleted = {fid for fid, fs in enumerate(idx.flagsets) if DELETED in fs}
    return {"MESSAGES": len(idx), "UNSEEN": idx.unseen, "UIDNEXT": idx.uidnext,
            "UIDVALIDITY": idx.uidvalidity, "HIGHESTMODSEQ": idx.highestmodseq,
            "SIZE": idx.total_bytes,
            "DELETED": sum(1 for f in idx.flag_ids if f in deleted) if deleted else 0}


async def status_values(s: Session, name: str, items: tuple[str, ...]) -> bytes:
    assert s.mailbox is not None
    folder = await s.run(s.mailbox.folder, name)
    if "DELETED" in items:
        counts = await s.run(folder.read_index, _counts)
    else:
        st = await s.run(folder.status)
        counts = {"MESSAGES": st.count, "UNSEEN": st.unseen, "UIDNEXT": st.uidnext,
                  "UIDVALIDITY": st.uidvalidity, "HIGHESTMODSEQ": st.highestmodseq,
                  "SIZE": st.bytes}
    if "RECENT" in items:  # unclaimed ones, and those this session holds if it is selected
        counts["RECENT"] = await s.run(folder.unclaimed_recent)
        if s.selected is not None and s.selected.folder.id == folder.id:
            counts["RECENT"] += len(s.selected.recent)
    if "HIGHESTMODSEQ" in items:
        s.enable_condstore()
    parts = []
    for item in items:
        if item == "APPENDLIMIT":
            parts.append(b"APPENDLIMIT %d" % s.limits.appendlimit)
        elif item == "MAILBOXID":  # RFC 8474 §4.2
            parts.append(b"MAILBOXID (%s)" % (await s.run(folder.mailbox_id)).encode())
        else:
            parts.append(item.encode() + b" %d" % counts[item])
    return b"(" + b" ".join(parts) + b")"


async def status(s: Session, args: Status) -> Done:
    values = await status_values(s, args.mailbox, args.items)
    s.untagged(b"STATUS " + s.mailbox_name(args.mailbox) + b" " + values)
    return Done()


# -- QUOTA ------------------------------------------------------------------------------------
async def _quota_line(s: Session) -> bytes:
    assert s.mailbox is not None and s.principal is not None
    p = s.principal
    account = await s.run(s.core.accounts.get, p.domain, p.username)
    used = await s.run(s.mailbox.usage_bytes)
    return b'QUOTA "" (STORAGE %d %d)' % ((used + 1023) // 1024, account.quota_bytes // 1024)


async def getquotaroot(s: Session, args: Mailbox) -> Done:
    assert s.mailbox is not None
    await s.run(s.mailbox.entry, args.mailbox)  # NotFound -> NO [NONEXISTENT]
    s.untagged(b"QUOTAROOT " + s.mailbox_name(args.mailbox) + b' ""')
    s.untagged(await _quota_line(s))
    return Done()


async def getquota(s: Session, args: GetQuota) -> Done:
    if args.root != "":
        raise ImapNo(f"no quota root {args.root!r}", "NONEXISTENT")
    s.untagged(await _quota_line(s))
    return Done()


async def setquota(s: Session, args: SetQuota) -> Done:
    raise ImapNo("quotas are set by the administrator", "NOPERM")

