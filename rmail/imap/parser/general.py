"""Parsers of the commands about the connection and the session rather than a mailbox or its
messages: CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE, ENABLE, ID, COMPRESS,
NOTIFY, CANCELUPDATE, and the other commands without arguments."""

from __future__ import annotations

import re

from rmail.imap.parser.messages import fetch_att
from rmail.imap.parser.reader import Parser, Reader
from rmail.imap.syntax import (
    Authenticate,
    CancelUpdate,
    Compress,
    Enable,
    FetchAtt,
    Id,
    Login,
    NoArgs,
    Notify,
    NotifyGroup,
)

MAX_ID_PAIRS = 30
MAX_ID_VALUE = 1024

_BASE64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}|=")


def _no_args(r: Reader) -> NoArgs:
    return NoArgs()


def _login(r: Reader) -> Login:
    r.sp()
    user = r.text(r.astring(), "user name")
    r.sp()
    password = r.text(r.astring(), "password")
    return Login(user, password)


def _authenticate(r: Reader) -> Authenticate:
    r.sp()
    mech = r.keyword()
    initial = None
    if r.maybe(b" "):
        raw = r.match(_BASE64, "base64 initial response")
        initial = b"" if raw == b"=" else raw
    return Authenticate(mech, initial)


def _enable(r: Reader) -> Enable:
    caps = []
    r.sp()
    caps.append(r.keyword())
    while r.maybe(b" "):
        caps.append(r.keyword())
    return Enable(tuple(caps))


def _cancelupdate(r: Reader) -> CancelUpdate:
    tags = []
    while r.maybe(b" "):
        tags.append(r.text(r.string(), "tag"))
    if not tags:
        raise r.fail("expected the tag of a search")
    return CancelUpdate(tuple(tags))


_NOTIFY_FILTERS = ("SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED",
                   "SUBTREE", "MAILBOXES")
MAX_NOTIFY_GROUPS = 50


def _notify_group(r: Reader) -> NotifyGroup:
    r.expect(b"(")
    kind = r.keyword()
    if kind not in _NOTIFY_FILTERS:
        raise r.fail(f"unknown NOTIFY mailbox filter {kind}")
    boxes: list[str] = []
    if kind in ("SUBTREE", "MAILBOXES"):
        r.sp()
        if r.maybe(b"("):
            boxes.append(r.mailbox())
            while r.maybe(b" "):
                boxes.append(r.mailbox())
            r.expect(b")")
        else:
            boxes.append(r.mailbox())
    r.sp()
    events: list[str] = []
    fetch: list[FetchAtt] = []
    if not r.maybe_ci(b"NONE"):
        r.expect(b"(")
        while True:
            name = r.keyword()
            events.append(name)
            if name == "MESSAGENEW" and r.maybe(b" ("):  # RFC 5465 §5.2: what to FETCH
                fetch.append(fetch_att(r))
                while r.maybe(b" "):
                    fetch.append(fetch_att(r))
                r.expect(b")")
            if r.maybe(b")"):
                break
            r.sp()
    r.expect(b")")
    return NotifyGroup(kind, tuple(boxes), tuple(events), tuple(fetch))


def _notify(r: Reader) -> Notify:
    """NOTIFY (RFC 5465 §8): `NONE` or `SET [STATUS] (filter events)...`."""
    r.sp()
    if r.maybe_ci(b"NONE"):
        return Notify(None)
    if not r.maybe_ci(b"SET"):
        raise r.fail("expected SET or NONE")
    r.sp()
    status = r.maybe_ci(b"STATUS")
    if status:
        r.sp()
    groups = [_notify_group(r)]
    while r.maybe(b" "):
        if len(groups) >= MAX_NOTIFY_GROUPS:
            raise r.fail(f"more than {MAX_NOTIFY_GROUPS} event groups")
        groups.append(_notify_group(r))
    return Notify(tuple(groups), status)


def _id(r: Reader) -> Id:
    r.sp()
    if r.maybe_ci(b"NIL"):
        return Id(None)
    r.expect(b"(")
    pairs: list[tuple[str, str | None]] = []
    if not r.maybe(b")"):
        while True:
            key = r.string()
            r.sp()
            value = r.nstring()
            if len(key) > MAX_ID_VALUE or (value is not None and len(value) > MAX_ID_VALUE):
                raise r.fail("ID field too long")
            pairs.append((key.decode("utf-8", "replace"),
                          None if value is None else value.decode("utf-8", "replace")))
            if len(pairs) > MAX_ID_PAIRS:
                raise r.fail("too many ID fields")
            if r.maybe(b")"):
                break
            r.sp()
    return Id(tuple(pairs))


def _compress(r: Reader) -> Compress:
    r.sp()
    return Compress(r.keyword())


PARSERS: dict[str, Parser] = {
    "CAPABILITY": _no_args, "NOOP": _no_args, "LOGOUT": _no_args, "STARTTLS": _no_args,
    "LOGIN": _login, "AUTHENTICATE": _authenticate, "ENABLE": _enable, "ID": _id,
    "CANCELUPDATE": _cancelupdate, "NOTIFY": _notify,
    "COMPRESS": _compress, "NAMESPACE": _no_args, "IDLE": _no_args,
    "CHECK": _no_args, "CLOSE": _no_args, "UNSELECT": _no_args, "EXPUNGE": _no_args,
}
